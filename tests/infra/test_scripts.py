"""The shell scripts in infra/ (issue 22): they parse, shellcheck finds nothing, and the
shared prelude ``infra/env.sh`` does what the scripts rely on.

``env.sh``: the environment wins over ``cluster.env`` (a value given on the command
line is not silently replaced), and without a ``.venv`` the scripts use the python and
ray on PATH (the image has none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
SOURCED = INFRA / "env.sh"
SCRIPTS = sorted([*INFRA.glob("*.sh"), *INFRA.glob("*/*.sbatch")])


def _ids(path: Path) -> str:
    return str(path.relative_to(INFRA))


@pytest.mark.parametrize("script", SCRIPTS, ids=_ids)
def test_scripts_parse_and_run_or_are_sourced(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK) == (script != SOURCED), (
        f"chmod +x {script}" if script != SOURCED else f"{script} is sourced, not run")


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck; .ci/run)")
@pytest.mark.parametrize("script", [*SCRIPTS, INFRA / "cluster.env.example"], ids=_ids)
def test_shellcheck_finds_nothing(script: Path) -> None:
    # -x follows `. env.sh` (the scripts' `source=` directives name it); from another
    # folder, as CI may run it.
    done = subprocess.run(["shellcheck", "-x", "--shell=bash", str(script)],
                          capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stdout + done.stderr


def _prelude(tmp_path: Path, snippet: str, **environ: str) -> str:
    """Source a copy of env.sh (with the example as cluster.env) from a fake repository in
    ``tmp_path``; run ``snippet``; its output."""
    infra = tmp_path / "infra"
    infra.mkdir(exist_ok=True)
    shutil.copy(SOURCED, infra / "env.sh")
    shutil.copy(INFRA / "cluster.env.example", infra / "cluster.env")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("REPO", "VENV", "MLFLOW_PORT", "RAY_PORT")}
    done = subprocess.run(["bash", "-c", f'set -euo pipefail; . "{infra}/env.sh"; {snippet}'],
                          env={**clean, **environ}, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_environment_wins_over_cluster_env(tmp_path: Path) -> None:
    shown = _prelude(tmp_path, 'echo "$MLFLOW_PORT $RAY_PORT $REPO"', MLFLOW_PORT="5001",
                     REPO=str(tmp_path))
    assert shown == f"5001 6379 {tmp_path}"


def test_without_a_venv_the_tools_on_path_are_used(tmp_path: Path) -> None:
    tools = tmp_path / "image-bin"
    tools.mkdir()
    for name in ("python", "ray"):
        (tools / name).write_text("#!/bin/sh\n")
        (tools / name).chmod(0o755)
    path = f"{tools}:/usr/bin:/bin"
    shown = _prelude(tmp_path, "command -v ray", REPO=str(tmp_path), PATH=path)
    assert shown == str(tools / "ray")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    shutil.copy(tools / "python", venv / "python")
    shutil.copy(tools / "ray", venv / "ray")
    shown = _prelude(tmp_path, "command -v ray", REPO=str(tmp_path), PATH=path)
    assert shown == str(venv / "ray")

"""Issue 23: every command the README shows works from any folder (:mod:`stroke_cli`).

``python -m platform.X`` works only from the repository root (elsewhere Python's standard
``platform`` wins), so each such command has a ``stroke-*`` console script. These tests lay
the project out as ``pip install`` would (no repository, no tests), write launchers as pip
writes them (the script's folder first on ``sys.path``, then the standard library, then
site-packages) and run every command's ``--help`` plus one real call from a temporary
folder outside any repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import read_configuration

import stroke_cli
from tests.platform.trial.test_portable_model import install_like_pip

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = read_configuration(REPO / "pyproject.toml")["project"]["scripts"]

_LAUNCHER = """import site, sys
site.addsitedir({site!r})  # after the standard library, as site-packages is
from stroke_cli import {function}
if __name__ == "__main__":
    sys.exit({function}())
"""


def _launchers(site_dir: Path, bin_dir: Path) -> dict[str, Path]:
    bin_dir.mkdir()
    paths = {}
    for name, target in SCRIPTS.items():
        paths[name] = bin_dir / name
        paths[name].write_text(_LAUNCHER.format(site=str(site_dir),
                                                function=target.split(":")[1]))
    return paths


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return env


def test_every_python_m_command_in_the_readme_has_a_console_script() -> None:
    docs = (REPO / "README.md").read_text()
    shown = set(re.findall(r"python -m ((?:platform|data_pipeline)\.[a-z_]+)", docs))
    covered = {command for command, _ in stroke_cli.COMMANDS.values()}
    assert shown <= covered, shown - covered
    assert set(SCRIPTS) == set(stroke_cli.COMMANDS)
    for name, target in SCRIPTS.items():
        module, function = target.split(":")
        assert module == "stroke_cli" and callable(getattr(stroke_cli, function)), name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    root = tmp_path_factory.mktemp("installed")
    site_dir = install_like_pip(root / "site-packages")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    assert subprocess.run(["git", "-C", str(elsewhere), "rev-parse"],
                          capture_output=True).returncode != 0  # not inside a repository
    return _launchers(site_dir, root / "bin"), elsewhere


@pytest.mark.slow  # nine interpreters import torch, MLflow, Ray: ~55 s on 2 loaded cores
def test_each_console_script_answers_help_from_another_folder(installed) -> None:
    launchers, elsewhere = installed
    running = {name: subprocess.Popen([sys.executable, str(path), "--help"], cwd=elsewhere,
                                      env=_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
               for name, path in launchers.items()}
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (name, err[-3000:])
        assert "usage:" in out, (name, out[:500])


def test_a_real_call_runs_from_another_folder(installed) -> None:
    launchers, elsewhere = installed
    done = subprocess.run([sys.executable, str(launchers["stroke-synthetic"]), "cohort",
                           "--patients", "2", "--shape", "32,32,32", "--seed", "0",
                           "--no-progress"],
                          cwd=elsewhere, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (elsewhere / "cohort" / "cohort.yaml").is_file()
    done = subprocess.run([sys.executable, str(launchers["stroke-inspect"]), "cohort",
                           "--json"], cwd=elsewhere, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert done.stdout.lstrip().startswith(("{", "[")), done.stdout[:500]

"""infra/README.md walks a lab from nothing to a sweep (issue 22): its commands must match
the files. Every path it names exists; every sweep command in it, and in the headers of
the files it sends a reader to, parses with today's sweep loader; the `ray job submit`
command is the one raycluster.yaml names; the plain MLflow commands set the variables
``mlflow-server.sh`` reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from platform.config import load_sweep

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
README = (INFRA / "README.md").read_text()
CREATED_BY_THE_READER = {"infra/cluster.env", "infra/mlflow/.env"}
HEADERS = [INFRA / "kuberay" / "raycluster.yaml", INFRA / "ray-up" / "cluster.yaml",
           INFRA / "slurm" / "ray-sweep.sbatch"]


def _joined(text: str) -> str:
    """``text`` with comment markers dropped and backslash-continued lines joined."""
    lines = [re.sub(r"^#\s?", "", line) for line in text.splitlines()]
    return re.sub(r"\\\n\s*", "", "\n".join(lines))


def _sweep_commands(text: str) -> list[list[str]]:
    """``[sweep file, overrides...]`` of each ``python -m platform.sweep`` or Slurm
    script run in ``text``."""
    commands = []
    runs = r"(?:python -m platform\.sweep|ray-sweep\.sbatch) (sweeps/[^\n\"]*)"
    for match in re.finditer(runs, _joined(text)):
        words = shlex.split(match.group(1))
        commands.append([words[0], *[w for w in words[1:] if "=" in w]])
    return commands


def _placeholders_filled(override: str) -> str:
    for placeholder, value in (("HEAD_IP", "127.0.0.2"), ("MINIO", "minio-host"),
                               ("MLFLOW", "mlflow-host")):
        override = re.sub(rf"\b{placeholder}\b", value, override)
    return override


def test_every_path_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?<![\w/.:-])(?:infra|sweeps|tests)/[\w./-]*\w", README))
    missing = sorted(path for path in named - CREATED_BY_THE_READER
                     if not (REPO_ROOT / path).exists() and "*" not in path)
    assert missing == []


@pytest.mark.parametrize("source", [INFRA / "README.md", *HEADERS],
                         ids=lambda path: str(path.relative_to(INFRA)))
def test_every_sweep_command_parses(source: Path) -> None:
    text = source.read_text()
    if source.suffix != ".md":
        text = text.split("\n\n")[0] if source.suffix == ".yaml" else text.split("#SBATCH")[0]
    commands = _sweep_commands(text)
    assert commands, f"no sweep command in {source.name}"
    for sweep, *overrides in commands:
        load_sweep(REPO_ROOT / sweep, [_placeholders_filled(o) for o in overrides])


def _submits(text: str) -> list[str]:
    """Each `ray job submit` command line of ``text``, whitespace normalised."""
    return [" ".join(line.split()) for line in _joined(text).splitlines()
            if line.strip().startswith("ray job submit")]


def test_the_ray_job_submit_command_is_the_one_raycluster_yaml_names() -> None:
    header = (INFRA / "kuberay" / "raycluster.yaml").read_text().split("apiVersion:")[0]
    assert _submits(README) and _submits(README) == _submits(header)


def test_the_plain_mlflow_commands_set_what_the_server_script_reads() -> None:
    block = README[README.index("createuser"):README.index("infra/mlflow-server.sh\n```")]
    script = (INFRA / "mlflow-server.sh").read_text()
    for variable in re.findall(r"\b(MLFLOW_[A-Z_]+)=", block):
        if variable != "MLFLOW_S3_ENDPOINT_URL":  # read by MLflow's S3 client
            assert f"{variable}" in script.split("set -euo pipefail")[0], variable
    assert "createdb --owner=mlflow mlflow " in block and '.[server]"' in block

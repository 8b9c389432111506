"""infra/Dockerfile and .dockerignore (issue 22): the image that every node runs.

No Docker here, so the files are read as Docker reads them: the instructions (with their
line continuations), and the .dockerignore patterns matched against the paths a secret
would have in the build context (the repository root). What is checked: no secret can
enter the context; Ray and MLflow are pinned to the versions the KubeRay manifests,
``pyproject.toml`` and the MLflow server name; dependencies are installed before the
source is copied; the image does not run as root; a CPU build of torch fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
SECRETS = ["infra/mlflow/.env", "infra/cluster.env", ".env", "credentials.env",
           "infra/credentials.env", "infra/slurm/credentials.env", ".pgpass", "lab.key",
           "infra/tls/server.pem", ".git/config"]
"""Where a secret could lie in a checkout: the server's .env, cluster.env, a copied
credentials file, keys, git's remote configuration (a token in a URL)."""


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def _ignore_patterns(dockerignore: Path) -> list[str]:
    return [line.strip() for line in dockerignore.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching (Go's filepath.Match plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the context: the last matching pattern wins
    (``!`` re-includes); a pattern that matches a parent folder matches what is inside."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    assert _ignored("infra/mlflow/.env", ["**/.env"])
    assert _ignored(".venv/bin/python", [".venv"])
    assert not _ignored("data_pipeline/io.py", ["data"])
    assert not _ignored("infra/mlflow/.env", ["**/.env", "!infra/mlflow/.env"])


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_can_enter_the_build_context(secret: str) -> None:
    assert _ignored(secret, _ignore_patterns(REPO_ROOT / ".dockerignore")), (
        f"{secret} would be sent to the Docker daemon and `COPY infra` would bake it in: "
        "exclude it in .dockerignore")


def test_the_build_context_keeps_what_the_image_copies() -> None:
    patterns = _ignore_patterns(REPO_ROOT / ".dockerignore")
    copied = [arg.split()[:-1] for keyword, arg in _instructions(INFRA / "Dockerfile")
              if keyword == "COPY"]
    sources = [source for sources in copied for source in sources]
    assert "." not in sources, "copy named folders, not the whole context"
    for source in sources:
        assert (REPO_ROOT / source).exists() and not _ignored(source, patterns), source


def test_the_mlflow_server_image_is_built_from_an_empty_context() -> None:
    """compose.yaml builds infra/mlflow/, where the server's .env lies."""
    assert _ignore_patterns(INFRA / "mlflow" / ".dockerignore") == ["*"]
    assert not any(keyword in ("COPY", "ADD")
                   for keyword, _ in _instructions(INFRA / "mlflow" / "Dockerfile"))


def _args(dockerfile: Path) -> dict[str, str]:
    return dict(arg.split("=", 1) for keyword, arg in _instructions(dockerfile)
                if keyword == "ARG" and "=" in arg)


def _pins(extra: str) -> dict[str, str]:
    """``{package: version}`` of the ``==`` pins of one extra of pyproject.toml."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python >= 3.11")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["optional-dependencies"][extra]:
        name, sep, version = requirement.partition("==")
        if sep:
            pins[name.split("[")[0]] = version
    return pins


def test_ray_and_mlflow_are_pinned_alike_everywhere() -> None:
    image = _args(INFRA / "Dockerfile")
    assert _pins("cluster") == {"ray": image["RAY_VERSION"], "mlflow": image["MLFLOW_VERSION"]}
    assert _pins("server") == {"mlflow": image["MLFLOW_VERSION"]}
    assert _args(INFRA / "mlflow" / "Dockerfile")["MLFLOW_VERSION"] == image["MLFLOW_VERSION"]
    cluster = yaml.safe_load((INFRA / "kuberay" / "raycluster.yaml").read_text())
    job = yaml.safe_load((INFRA / "kuberay" / "rayjob.yaml").read_text())
    assert cluster["spec"]["rayVersion"] == image["RAY_VERSION"]
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == image["RAY_VERSION"]
    installs = " ".join(arg for keyword, arg in _instructions(INFRA / "Dockerfile")
                        if keyword == "RUN" and "pip install" in arg)
    assert '"ray[default,tune]==${RAY_VERSION}"' in installs
    assert '"mlflow==${MLFLOW_VERSION}"' in installs
    assert "['optional-dependencies']['cluster']" in installs


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    """A code change then rebuilds only the layers after the source, not every wheel."""
    steps = _instructions(INFRA / "Dockerfile")
    dependencies = next(i for i, (keyword, arg) in enumerate(steps)
                        if keyword == "RUN" and "-r /tmp/requirements.txt" in arg)
    first_source = next(i for i, (keyword, arg) in enumerate(steps)
                        if keyword == "COPY" and arg.split()[0] == "platform")
    assert dependencies < first_source
    assert [arg for keyword, arg in steps[:dependencies] if keyword == "COPY"] == [
        "pyproject.toml ./"]


def test_the_image_does_not_run_as_root() -> None:
    users = [arg for keyword, arg in _instructions(INFRA / "Dockerfile") if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_the_image_refuses_a_cpu_build_of_torch() -> None:
    text = (INFRA / "Dockerfile").read_text()
    assert "torch.version.cuda" in text and "ARG TORCH_SPEC" in text

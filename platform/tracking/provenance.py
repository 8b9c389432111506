"""Provenance of a run: code version, machine and library versions, as MLflow tags.

Why: a Table 1 number is only worth comparing with another if both came from the same
code on comparable software; these tags let the MLflow UI filter and group by them.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["GIT_COMMIT_TAG", "REPO_ROOT", "environment_tags", "git_state"]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or installed tree) these packages were imported from."""

def git_state(repo: Path = REPO_ROOT) -> tuple[str, bool | None]:
    """``(commit, dirty)`` of ``repo`` (default: this checkout); ``("unknown", None)``
    outside a git checkout or without git.

    ``dirty`` means tracked files differ from the commit (untracked files are ignored:
    caches and run folders live in the tree).
    """
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError) as err:
        logger.debug("no git state for %s: %s", repo, err)
        return "unknown", None
    return commit, dirty


GIT_COMMIT_TAG = "mlflow.source.git.commit"
"""MLflow's standard tag for the code version: the UI links and filters runs by it."""


def environment_tags() -> dict[str, str]:
    """Tags ``git_commit``, ``git_dirty``, ``host``, ``python_version``, ``torch_version``,
    ``cuda_version`` (``none`` on a CPU build of torch), and MLflow's standard
    ``mlflow.source.git.commit`` when the commit is known."""
    import torch  # here, not at import: ~1 s, and a config check needs no torch

    commit, dirty = git_state()
    standard = {} if commit == "unknown" else {GIT_COMMIT_TAG: commit}
    return {
        **standard,
        "git_commit": commit,
        "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "host": socket.gethostname(),
        "python_version": sys.version.split()[0],
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
    }


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=20, check=True)
    return done.stdout.strip()

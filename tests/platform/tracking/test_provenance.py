"""platform.tracking.provenance: provenance tags (git state, host, versions)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import torch

from platform.tracking.provenance import environment_tags, git_state
from platform.tune.env import REPO_ROOT


def test_git_state_of_this_checkout() -> None:
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    commit, dirty = git_state()
    assert commit == head and isinstance(dirty, bool)


def test_git_state_outside_a_checkout(tmp_path: Path) -> None:
    assert git_state(tmp_path) == ("unknown", None)


def test_environment_tags() -> None:
    tags = environment_tags()
    assert tags["host"] == socket.gethostname()
    assert tags["python_version"] == sys.version.split()[0]
    assert tags["torch_version"] == torch.__version__
    assert tags["cuda_version"] == (torch.version.cuda or "none")
    assert tags["git_dirty"] in {"true", "false"}

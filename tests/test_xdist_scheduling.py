"""Tests for tests/xdist_scheduling.py: under ``make test``'s two workers a test file runs
whole on one worker, and the files of one costly session fixture share a worker."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

from tests.xdist_scheduling import unit_of_file

REPO = Path(__file__).resolve().parent.parent
EVALUATION = ("tests/platform/evaluation/test_cases.py",  # a module-scoped fixture
              "tests/platform/evaluation/test_metrics.py")


def test_files_naming_a_shared_session_fixture_are_one_unit() -> None:
    relocate = unit_of_file(REPO / "tests/platform/tracking/test_relocate.py")
    reference = unit_of_file(REPO / "tests/platform/tracking/test_model_reference.py")
    assert relocate == reference == "finished_tiny_sweep"
    assert unit_of_file(REPO / EVALUATION[0]) == str(REPO / EVALUATION[0])


def test_each_file_runs_whole_on_one_worker() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider", *EVALUATION],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    workers = collections.defaultdict(set)
    for worker, nodeid in re.findall(r"\[(gw\d+)\] \[\s*\d+%\] PASSED (\S+)", done.stdout):
        workers[nodeid.split("::", 1)[0]].add(worker)
    assert set(workers) == set(EVALUATION), done.stdout[-3000:]
    assert all(len(used) == 1 for used in workers.values()), dict(workers)

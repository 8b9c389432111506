"""``python -m platform.report`` (:mod:`platform.report.__main__`): the thin entry reaches the
report's command line (:mod:`platform.report.rebuild`) and returns its exit code. What the
report builds is tested in ``test_rebuild.py``."""

from __future__ import annotations

import subprocess
import sys

from platform.tune.env import REPO_ROOT


def test_python_m_platform_report_without_a_sweep_exits_2_with_its_usage() -> None:
    done = subprocess.run([sys.executable, "-m", "platform.report"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m platform.report")
    assert "required" in done.stderr


def test_python_m_platform_report_help_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "platform.report", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("usage: python -m platform.report")

"""``python -m platform.sweep`` (:mod:`platform.sweep.__main__`): the thin entry reaches the
sweep's command line and returns its exit code. What the command does is tested in
``test_run.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from platform.tune.env import REPO_ROOT, ray_process_env
from tests.platform.sweep.harness import write_sweep


def test_python_m_platform_sweep_exits_2_for_an_invalid_sweep_naming_it(tmp_path: Path) -> None:
    bad = write_sweep(tmp_path / "bad.yaml", {"base": {"model": {"norm": "instnce"}}})
    done = subprocess.run([sys.executable, "-m", "platform.sweep", str(bad)], cwd=REPO_ROOT,
                          env=ray_process_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert str(bad) in done.stderr and "base.model.norm" in done.stderr

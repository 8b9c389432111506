"""platform/sweep/dry_run.py: ``--dry-run`` lists the trials and the plan and runs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from platform.config import load_sweep
from platform.sweep.expand import expand
from platform.tune.env import ray_process_env
from tests.platform.sweep.harness import TINY_SWEEP

_DRY_RUN = ("import sys; from platform.sweep.__main__ import main; code = main(sys.argv[1:]); "
            "print('ray imported:', 'ray' in sys.modules); sys.exit(code)")


def test_dry_run_prints_every_trial_and_the_plan_and_starts_nothing(tmp_path: Path) -> None:
    # The flag may come before the overrides (argparse leaves them unparsed unless intermixed).
    command = [sys.executable, "-c", _DRY_RUN, str(TINY_SWEEP), "--dry-run", "cv.run_folds=[0,1]"]
    done = subprocess.run(command, cwd=tmp_path, env=ray_process_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    specs = expand(load_sweep(TINY_SWEEP, ["cv.run_folds=[0,1]"]))
    assert len(specs) == 4
    for spec in specs:
        assert spec.trial_id in done.stdout
    assert "ray imported: False" in done.stdout
    assert "cohort: synthetic (generated on first run): 4 cases" in done.stdout
    # The plan needs the folds' patients: the synthetic cohort is generated (the sweep
    # uses it later); no MLflow store, no Ray state, no preprocessing cache.
    assert done.stdout.splitlines()[-2] == (
        "plan: 4 trainings to run, 0 reused; 4 evaluations to run, 0 reused")
    assert os.listdir(tmp_path) == ["runs"]
    assert os.listdir(tmp_path / "runs") == ["cache"]
    assert os.listdir(tmp_path / "runs" / "cache") == ["cohorts"]

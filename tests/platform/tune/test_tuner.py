"""platform.tune.tuner: what the Tuner receives for the console (issue 13); storage is tested in
tune/test_storage.py."""

from __future__ import annotations

import logging
from typing import Any

from platform.config.runtime import RayConfig
from platform.sweep.console import SweepProgress
from platform.tune.env import REPO_ROOT
from platform.tune.progress import TuneProgress
from platform.tune.storage import RayStorage
from platform.tune.tuner import grid_settings, ray_init_arguments


def _grid(callbacks: list) -> Any:
    from platform.config import load_sweep
    from platform.config.request import FoldKeys, SweepContext, TrialRequest
    from platform.sweep.expand import expand

    sweep = load_sweep(REPO_ROOT / "sweeps" / "tiny.yaml", [])
    context = SweepContext(cohort="/c", cache_root="/c", folds=(FoldKeys(
        index=0, train=("a",), test=("b",)),), run_folds=(0,), cv_seed=0,
        tracking_uri="sqlite:////c/m.db", experiment="tiny", sweep_id="s", cpus_per_trial=1,
        gpus_per_trial=0, data_fingerprint="d")
    requests = [TrialRequest(spec=spec, context=context) for spec in expand(sweep)]
    return grid_settings(requests, storage=RayStorage.of(sweep.ray), name="t",
                         resources=sweep.resources, failure=sweep.failure, callbacks=callbacks)


def test_a_progress_callback_silences_ray_tunes_own_output() -> None:
    """Issue 13: the display replaces Ray Tune's trial tables; -v brings them back."""
    callback = TuneProgress(SweepProgress("t", metric="dice", mode="max"))
    quiet = _grid([callback]).run_config
    assert (quiet.verbose, quiet.callbacks) == (0, [callback])
    detailed = _grid([]).run_config
    assert (detailed.verbose, detailed.callbacks) == (1, None)


def test_quiet_ray_logs_at_warning_and_keeps_worker_output_in_its_files() -> None:
    config = RayConfig()
    quiet = ray_init_arguments(config, quiet=True)
    assert (quiet["logging_level"], quiet["log_to_driver"]) == (logging.WARNING, False)
    assert "log_to_driver" not in ray_init_arguments(config)  # Ray's defaults: all output

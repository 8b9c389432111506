"""platform.tune.tuner: what the Tuner receives for the console (issue 13), and which Optuna
study a search continues; storage is tested in tune/test_storage.py."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from platform.config import load_sweep
from platform.config.runtime import RayConfig
from platform.sweep.console import SweepProgress
from platform.trial.stops import NonFiniteLossError
from platform.tune.display import FAILURE_REASON
from platform.tune.env import REPO_ROOT
from platform.tune.progress import TuneProgress
from platform.tune.storage import RayStorage
from platform.tune.trainable import stopped_result
from platform.tune.tuner import (
    StopAwareOptunaSearch,
    TuneRun,
    grid_settings,
    ray_init_arguments,
    shutdown_ray,
    start_ray,
    study_generation,
)
from tests.platform.trial.test_search_sample import _search_sweep
from tests.platform.tune.raising_trials import sample_like_the_trainable


def _grid(callbacks: list) -> Any:
    from platform.config.request import FoldKeys, SweepContext, TrialRequest
    from platform.sweep.expand import expand

    sweep = load_sweep(REPO_ROOT / "sweeps" / "tiny.yaml", [])
    context = SweepContext(cohort="/c", cache_root="/c", folds=(FoldKeys(
        index=0, train=("a",), test=("b",)),), run_folds=(0,), cv_seed=0,
        tracking_uri="sqlite:////c/m.db", experiment="tiny", sweep_id="s", cpus_per_trial=1,
        gpus_per_trial=0, data_fingerprint="d")
    requests = [TrialRequest(spec=spec, context=context) for spec in expand(sweep)]
    return grid_settings(requests,
                         TuneRun(storage=RayStorage.of(sweep.ray), name="t",
                                 resources=sweep.resources, failure=sweep.failure,
                                 callbacks=callbacks))


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


def test_a_changed_space_is_a_new_study_and_restart_keeps_the_old_one(tmp_path: Path) -> None:
    sweep = load_sweep(_search_sweep(tmp_path))
    search = sweep.search
    assert search is not None
    changed = load_sweep(_search_sweep(tmp_path), ['search.space["model.se_ratio"].choice=[1,4]'])
    assert changed.search is not None and changed.search.space_digest() != search.space_digest()
    assert load_sweep(_search_sweep(tmp_path), ["search.num_samples=5"]).search.space_digest() \
        == search.space_digest()  # more samples of the same space: the same study
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    assert study_generation(storage, "s-1", restart=False) == "s-1"  # no store yet: first
    optuna.create_study(study_name="s-1", storage=storage)
    assert study_generation(storage, "s-1", restart=False) == "s-1"  # continued
    assert study_generation(storage, "s-1", restart=True) == "s-1-r1"
    optuna.create_study(study_name="s-1-r1", storage=storage)
    assert study_generation(storage, "s-1", restart=False) == "s-1-r1"  # the latest
    assert study_generation(storage, "s-1", restart=True) == "s-1-r2"
    assert {"s-1", "s-1-r1"} <= set(optuna.get_all_study_names(storage))  # none deleted


@pytest.mark.slow
def test_a_stopped_sample_is_pruned_with_its_reason_and_the_search_goes_on(
        tmp_path: Path) -> None:
    """Issue 28: a sample whose training stops (a NaN loss) ends PRUNED in the Optuna study
    with its reason, not COMPLETE with the worst value it reported; the other samples run.
    Real Ray Tune, the real searcher, an Optuna SQLite study."""
    reported = {FAILURE_REASON: str(NonFiniteLossError(2, float("nan"), 1.44).reason),
                "val_dice": float("-inf")}
    assert reported == stopped_result(reported[FAILURE_REASON], "val_dice", "max")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = StopAwareOptunaSearch(metric="val_dice", mode="max", study_name="s",
                                     sampler=optuna.samplers.TPESampler(seed=0),
                                     storage=optuna.storages.RDBStorage(storage))
    started = start_ray(RayConfig(address="local", num_cpus=1, object_store_mb=100), quiet=True)
    try:
        results = tune.Tuner(
            tune.with_resources(sample_like_the_trainable, {"cpu": 1}),
            param_space={"lr": tune.choice([0.001, 1.0e30])},  # seed 0: stop, score, stop
            tune_config=tune.TuneConfig(metric="val_dice", mode="max", num_samples=3,
                                        search_alg=ConcurrencyLimiter(searcher, 1)),
            run_config=tune.RunConfig(name="stops", storage_path=str(tmp_path / "ray"),
                                      verbose=0)).fit()
    finally:
        if started:
            shutdown_ray()
    assert not results.errors
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.params["lr"] for t in trials] == [1.0e30, 0.001, 1.0e30]  # went on after a stop
    stopped = [t for t in trials if t.params["lr"] > 1.0]
    scored = [t for t in trials if t.params["lr"] < 1.0]
    for trial in stopped:  # (Optuna keeps a pruned trial's last reported value: the worst)
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert trial.user_attrs == {FAILURE_REASON: reported[FAILURE_REASON]}
    for trial in scored:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.value == 1.0 / (1.0 + trial.params["lr"])
        assert FAILURE_REASON not in trial.user_attrs

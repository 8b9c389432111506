"""Ray Tune set-up: start or join Ray, run the grid of trials or an Optuna search, resume.

Why here: Ray is imported only by this module and :mod:`platform.trial.run`, so a change of
Ray Tune's API (it changed several times) touches two files. The grid sweep is one Ray
Tune trial per ``(variant, fold)``; a search is OptunaSearch in a ConcurrencyLimiter with
an optional early-stopping scheduler, the study kept in an Optuna RDB storage.

Each run is described first by a :class:`TunerSettings` (what the ``Tuner`` receives:
param space, tune and run configs, resources), built from the validated config by
:func:`grid_settings` and :func:`search_settings`, then fitted; the knob-reach test reads
those settings without starting Ray.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from platform.config.request import REQUEST_KEY, SAMPLE_KEY, TrialRequest
from platform.config.runtime import FailureConfig, RayConfig, ResourcesConfig
from platform.config.search import SearchConfig
from platform.tracking.store import sqlite_file
from platform.tune.display import FAILURE_REASON
from platform.tune.env import ray_process_env, s3_keys_kept_from_ray, worker_runtime_env
from platform.tune.pruning import OptunaPrunerScheduler
from platform.tune.storage import RayStorage
from platform.tune.trainable import trainable

__all__ = [
    "StopAwareOptunaSearch", "TuneRun", "TunerSettings", "grid_settings", "gpus_per_trial",
    "ray_init_arguments", "run_grid", "run_search", "search_settings", "shutdown_ray", "start_ray",
    "study_generation",
]

logger = logging.getLogger(__name__)

# Ray rewrites 127.0.0.1 to the machine's outward address; another loopback address keeps
# a local run on the machine (Linux answers on all of 127.0.0.0/8).
_LOCAL_NODE_IP = "127.0.0.2" if sys.platform.startswith("linux") else None


def ray_init_arguments(config: RayConfig, *, quiet: bool = False) -> dict[str, Any]:
    """What ``ray.init`` receives for ``config``: a private local Ray, or a cluster to join.

    Workers get the repository (on ``PYTHONPATH``, or uploaded with ``ray.ship_code``) and
    the driver's MLflow and S3 variables (:func:`platform.tune.env.worker_runtime_env`).

    Args:
        quiet: Ray's own logs at WARNING and the workers' output kept in Ray's log
            files (the sweep's progress display prints a failed trial's error itself).
    """
    runtime_env = worker_runtime_env(ship_code=config.ship_code)
    console = {"logging_level": logging.WARNING, "log_to_driver": False} if quiet else {}
    if config.address != "local":
        joined: dict[str, Any] = {"address": config.address, "runtime_env": runtime_env,
                                  **console}
        if config.node_ip_address is not None:
            joined["_node_ip_address"] = config.node_ip_address
        return joined
    return {
        **console,
        "address": "local",
        "num_cpus": config.num_cpus or os.cpu_count(),
        "num_gpus": config.num_gpus,
        "object_store_memory": config.object_store_mb * 1024**2,
        "include_dashboard": config.include_dashboard,
        "_node_ip_address": config.node_ip_address or _LOCAL_NODE_IP,
        "runtime_env": runtime_env,
    }


def start_ray(config: RayConfig, *, quiet: bool = False) -> bool:
    """Start a local Ray or join a cluster; return whether this call started it."""
    if ray.is_initialized():
        return False
    # Token auth must be set alike in the driver, the nodes and the workers (STACK_NOTES.md).
    for key, value in ray_process_env().items():
        if key.startswith("RAY_"):
            os.environ.setdefault(key, value)
    ray.init(**ray_init_arguments(config, quiet=quiet))
    logger.info("Ray resources: %s", ray.cluster_resources())
    return True


def shutdown_ray() -> None:
    """Stop the Ray this process started (never ``ray stop``: that kills every Ray here)."""
    if ray.is_initialized():
        ray.shutdown()


@dataclass(frozen=True)
class TunerSettings:
    """Everything a Ray Tune ``Tuner`` is built from, for one grid or one search."""

    param_space: dict[str, Any]
    tune_config: tune.TuneConfig
    run_config: tune.RunConfig
    resources: dict[str, float]

    def tuner(self) -> tune.Tuner:
        """A new ``Tuner`` with these settings."""
        return tune.Tuner(self.trainable(), param_space=self.param_space,
                          tune_config=self.tune_config, run_config=self.run_config)

    def trainable(self) -> Any:
        """The trainable with one trial's resources attached."""
        return tune.with_resources(trainable, self.resources)


def _trial_name(trial: Any) -> str:
    """A grid trial is named by its training (``<variant>-f<fold>-<training key>``)."""
    request = trial.config.get(REQUEST_KEY)
    if not request:
        return str(trial.trial_id)
    return TrialRequest.model_validate(request).training_id


@dataclass(frozen=True)
class TuneRun:
    """Where and how one Ray Tune experiment runs.

    Args:
        storage: Ray Tune's storage (a local folder, a shared one or S3).
        name: the experiment's name under ``storage`` (one per sweep and kind of run).
        resources: each trial's CPUs and GPUs, and how many run at once.
        failure: how often a failed trial is retried.
        resume: continue the experiment stored under ``name`` if there is one.
        callbacks: the progress display; they replace Ray Tune's own console output.
    """

    storage: RayStorage
    name: str
    resources: ResourcesConfig
    failure: FailureConfig
    resume: bool = True
    callbacks: Sequence[tune.Callback] = ()


def _run_config(run: TuneRun) -> tune.RunConfig:
    """Ray Tune's own trial tables (``verbose=1``) unless a progress callback draws."""
    return tune.RunConfig(
        name=run.name,
        storage_path=run.storage.tune_path(),
        storage_filesystem=run.storage.filesystem(),
        failure_config=tune.FailureConfig(max_failures=run.failure.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=list(run.callbacks) or None,
        verbose=0 if run.callbacks else 1,
    )


_QUIET_FIT = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0"}


def _fit(tuner: tune.Tuner, settings: TunerSettings) -> tune.ResultGrid:
    """``tuner.fit()``; silent when a progress callback draws (``verbose=0``).

    Ray Tune's default output engine prints the experiment's header and result paths
    even at ``verbose=0`` (``experiment_started`` in ``ray/tune/experimental/output.py``,
    Ray 2.60); its former engine prints nothing at 0. ``RAY_AIR_NEW_OUTPUT=0`` selects
    the former for this call only (Ray reads it in the driver when ``fit`` starts), and
    ``TUNE_PRINT_ALL_TRIAL_ERRORS=0`` keeps Ray Tune from logging a traceback at every
    failure of a trial (the display prints the error once; ``-v`` keeps Ray's lines).
    """
    if settings.run_config.verbose != 0:
        return tuner.fit()
    before = {key: os.environ.get(key) for key in _QUIET_FIT}
    os.environ.update(_QUIET_FIT)
    try:
        return tuner.fit()
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _restore(path: str, settings: TunerSettings, **kwargs: Any) -> tune.Tuner:
    """``Tuner.restore`` with this run's callbacks and verbosity.

    Ray Tune restores the run config pickled when the experiment first started
    (``tuner.pkl``: callbacks and verbosity included) and has no public way to change
    it (Ray 2.60), so a sweep resumed with or without ``-v`` would print as the first
    run did. The restored run config is set here through ``Tuner._local_tuner``.
    """
    restored = tune.Tuner.restore(path, trainable=settings.trainable(),
                                  resume_errored=True, **kwargs)
    local = restored._local_tuner  # private: see the docstring
    if local is None:  # Optional in Ray: a Ray Client (ray://) Tuner is a remote one
        raise RuntimeError(f"cannot resume {path} with this run's callbacks: Ray Tune "
                           "restored no local Tuner")
    run_config = local.get_run_config()
    run_config.callbacks = settings.run_config.callbacks
    run_config.verbose = settings.run_config.verbose
    return restored


def gpus_per_trial(resources: ResourcesConfig) -> float:
    """``resources.gpus_per_trial``, or by default 1 where the Ray this process joined has a
    GPU (0 otherwise, and before Ray starts)."""
    if resources.gpus_per_trial is not None:
        return resources.gpus_per_trial
    has_gpu = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1
    return 1.0 if has_gpu else 0.0


def _resources(resources: ResourcesConfig) -> dict[str, float]:
    return {"cpu": resources.cpus_per_trial, "gpu": gpus_per_trial(resources)}


def grid_settings(requests: Sequence[TrialRequest], run: TuneRun) -> TunerSettings:
    """One Ray Tune trial per request (one per ``(variant, fold)``)."""
    return TunerSettings(
        param_space={REQUEST_KEY: tune.grid_search([r.to_ray() for r in requests])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=run.resources.max_concurrent_trials,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
            # One worker process serves trial after trial: torch, MLflow and the
            # network's first kernels load once per worker, not once per trial.
            reuse_actors=True,
        ),
        run_config=_run_config(run),
        resources=_resources(run.resources),
    )


def run_grid(requests: Sequence[TrialRequest], run: TuneRun) -> tune.ResultGrid:
    """Run the grid; with ``run.resume``, continue the experiment stored under its name:
    finished trials are kept, errored ones resume from their last checkpoint."""
    with s3_keys_kept_from_ray():  # the S3 client is built inside: keys from the file
        settings = grid_settings(requests, run)
        path, filesystem = run.storage.experiment(run.name), run.storage.filesystem()
        if run.resume and tune.Tuner.can_restore(path, storage_filesystem=filesystem):
            logger.info("resuming the sweep stored in %s", run.storage.describe(run.name))
            return _fit(_restore(path, settings, param_space=settings.param_space,
                                 storage_filesystem=filesystem), settings)
        return _fit(settings.tuner(), settings)


def _search_space(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Turn ``{"model.se_ratio": {"choice": [...]}, ...}`` into Ray Tune domains."""
    builders = {
        "choice": lambda v: tune.choice(list(v)),
        "loguniform": lambda v: tune.loguniform(*v),
        "uniform": lambda v: tune.uniform(*v),
        "randint": lambda v: tune.randint(*v),
    }
    domains = {}
    for knob, spec in space.items():
        (kind, values), = spec.items()
        domains[knob] = builders[kind](values)
    return domains


def _scheduler(pruner: str, max_t: int, mode: str, fold_score: str) -> Any:
    """Early stopping over folds: ASHA, the median rule, Optuna's Wilcoxon pruner or none."""
    if pruner == "asha":
        return ASHAScheduler(time_attr="folds_done", max_t=max_t, grace_period=1)
    if pruner == "median":
        return MedianStoppingRule(time_attr="folds_done", grace_period=1, min_samples_required=2)
    if pruner == "wilcoxon":
        return OptunaPrunerScheduler(optuna.pruners.WilcoxonPruner(), score=fold_score,
                                     step="folds_done", mode=mode)
    return None


class StopAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that ends a stopped sample (a NaN or diverging loss) PRUNED in the
    study, with its reason as the Optuna trial's user attribute ``failure_reason``.

    Why: such a sample's last result holds ``failure_reason`` and the worst value of the
    metric (Ray Tune refuses a result without it). Plain OptunaSearch would record that
    value as a COMPLETE trial, so the study (and optuna-dashboard) would count a score no
    configuration earned among its results. PRUNED (Optuna keeps the last reported value
    on it, the worst) tells TPE the region is bad: it ranks pruned trials below every
    complete one, while it ignores FAIL trials. The other samples go on.

    ``_ot_trials`` and ``_completed_trials`` are Ray 2.60's private fields, the only way
    to the Optuna trial of a Ray trial; ``tests/platform/tune/test_tuner.py`` runs a real
    search through them.
    """

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        reason = (result or {}).get(FAILURE_REASON)
        if reason is None or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        self._ot_trials[trial_id].set_user_attr(FAILURE_REASON, str(reason))
        super().on_trial_complete(trial_id, None, error=False)  # no value, no error: PRUNED


def search_settings(base: TrialRequest, search: SearchConfig, *, study_name: str,
                    n_folds: int, run: TuneRun) -> TunerSettings:
    """An Optuna search through Ray Tune; each sample loops the folds internally.

    The study lives in ``search.storage`` (an Optuna RDB URL) under ``study_name`` so it can
    be continued and opened in optuna-dashboard. Each sample reports ``search.metric``
    after every fold (``folds_done`` counts them) so ASHA, the median rule or a pruner
    can stop it early.
    """
    database = sqlite_file(search.storage)
    if database is not None:  # SQLite creates the file, not its folder
        database.parent.mkdir(parents=True, exist_ok=True)
    searcher = StopAwareOptunaSearch(
        metric=search.metric, mode=search.mode,
        sampler=optuna.samplers.TPESampler(seed=search.seed), study_name=study_name,
        storage=optuna.storages.RDBStorage(search.storage))
    return TunerSettings(
        param_space={REQUEST_KEY: base.to_ray(), SAMPLE_KEY: _search_space(search.space_spec())},
        tune_config=tune.TuneConfig(
            metric=search.metric, mode=search.mode,
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=search.max_concurrent),
            scheduler=_scheduler(search.pruner, n_folds, search.mode, f"fold_{search.metric}"),
            num_samples=search.num_samples),
        run_config=_run_config(run),
        resources=_resources(run.resources),
    )


def study_generation(storage: str, name: str, *, restart: bool) -> str:
    """The study a search uses: ``name``, or its latest ``name-r<n>`` after restarts; with
    ``restart`` the next generation (the earlier studies are kept)."""
    database = sqlite_file(storage)
    existing = set() if database is not None and not database.exists() else \
        set(optuna.get_all_study_names(storage))
    generations = [0] if name in existing else []
    generations += [int(n.rsplit("-r", 1)[1]) for n in existing
                    if n.startswith(f"{name}-r") and n.rsplit("-r", 1)[1].isdigit()]
    latest = max(generations, default=None)
    if restart and latest is not None:
        logger.info("--restart: study %s is kept; a new study starts", name)
        return f"{name}-r{latest + 1}"
    return name if not latest else f"{name}-r{latest}"


def run_search(base: TrialRequest, search: SearchConfig, *, study_name: str, n_folds: int,
               run: TuneRun) -> tune.ResultGrid:
    """Run the search; with ``run.resume`` an interrupted one is continued (Ray Tune
    restores the searcher's state, so it does not add ``num_samples`` new samples)."""
    with s3_keys_kept_from_ray():  # the S3 client is built inside: keys from the file
        settings = search_settings(base, search, study_name=study_name, n_folds=n_folds,
                                   run=run)
        path, filesystem = run.storage.experiment(run.name), run.storage.filesystem()
        if run.resume and tune.Tuner.can_restore(path, storage_filesystem=filesystem):
            logger.info("resuming the search stored in %s", run.storage.describe(run.name))
            return _fit(_restore(path, settings, storage_filesystem=filesystem), settings)
        return _fit(settings.tuner(), settings)

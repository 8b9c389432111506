"""Ray Tune set-up: start or join Ray, run the grid of trials or an Optuna search, resume.

Why here: Ray is imported only by this module and :mod:`platform.trial`, so a change of
Ray Tune's API (it changed several times) touches two files. The grid sweep is one Ray
Tune trial per ``(variant, fold)``; a search is OptunaSearch in a ConcurrencyLimiter with
an optional early-stopping scheduler, the study kept in an Optuna RDB storage.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from platform.ray_env import ray_process_env, worker_runtime_env
from platform.trial import trainable

__all__ = [
    "experiment_path", "run_grid", "run_search", "set_aside", "shutdown_ray", "start_ray",
]

logger = logging.getLogger(__name__)

# Ray rewrites 127.0.0.1 to the machine's outward address; another loopback address keeps
# a local run on the machine (Linux answers on all of 127.0.0.0/8).
_LOCAL_NODE_IP = "127.0.0.2" if sys.platform.startswith("linux") else None


def start_ray(
    *,
    address: str,
    num_cpus: float | None,
    num_gpus: float | None,
    object_store_mb: int,
    include_dashboard: bool,
    ship_code: bool = False,
) -> bool:
    """Start a local Ray or join a cluster; return whether this call started it.

    Args:
        address: ``"local"`` for a private single-node Ray, ``"auto"`` or ``host:port``
            (or ``ray://host:port``) to join a running cluster.
        ship_code: upload the repository to the cluster (nodes without a shared path).
    """
    if ray.is_initialized():
        return False
    # Token auth must be set alike in the driver, the nodes and the workers (STACK_NOTES.md).
    for key, value in ray_process_env().items():
        if key.startswith("RAY_"):
            os.environ.setdefault(key, value)
    runtime_env = worker_runtime_env(ship_code=ship_code)
    if address == "local":
        ray.init(
            address="local",
            num_cpus=int(num_cpus) if num_cpus else os.cpu_count(),
            num_gpus=int(num_gpus) if num_gpus is not None else None,
            object_store_memory=object_store_mb * 1024**2,
            include_dashboard=include_dashboard,
            _node_ip_address=_LOCAL_NODE_IP,
            runtime_env=runtime_env,
        )
    else:
        ray.init(address=address, runtime_env=runtime_env)
    logger.info("Ray resources: %s", ray.cluster_resources())
    return True


def shutdown_ray() -> None:
    """Stop the Ray this process started (never ``ray stop``: that kills every Ray here)."""
    if ray.is_initialized():
        ray.shutdown()


def experiment_path(storage_path: Path, name: str) -> Path:
    """Folder where Ray Tune keeps one sweep's state (the resume point)."""
    return storage_path.resolve() / name


def set_aside(storage_path: Path, name: str) -> Path | None:
    """Move an earlier run's state out of the way (``--restart``); nothing is deleted."""
    path = experiment_path(storage_path, name)
    if not path.exists():
        return None
    kept = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(kept)
    logger.info("--restart: the earlier state of %s is kept in %s", name, kept)
    return kept


def _trial_name(trial: Any) -> str:
    return str(trial.config.get("trial", {}).get("trial_id", trial.trial_id))


def _run_config(storage_path: Path, name: str, max_failures: int) -> tune.RunConfig:
    return tune.RunConfig(
        name=name,
        storage_path=str(storage_path.resolve()),
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        verbose=1,
    )


def _resources(cpus: float, gpus: float) -> Any:
    return tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})


def run_grid(
    trials: Sequence[Mapping[str, Any]],
    context: Mapping[str, Any],
    *,
    storage_path: Path,
    name: str,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_concurrent: int | None,
    max_failures: int,
    resume: bool = True,
) -> tune.ResultGrid:
    """Run one Ray Tune trial per payload in ``trials``; resume a sweep left unfinished.

    Args:
        trials: JSON-able trial payloads (``TrialSpec`` dumps), one per ``(variant, fold)``.
        context: settings every trial shares (cohort, cache, tracking, parent run id).
        resume: continue the experiment in ``storage_path/name`` when one exists there:
            finished trials are kept, errored ones resume from their last checkpoint.
    """
    param_space = {"trial": tune.grid_search(list(trials)), "context": dict(context)}
    path = experiment_path(storage_path, name)
    runnable = _resources(cpus_per_trial, gpus_per_trial)
    if resume and tune.Tuner.can_restore(str(path)):
        logger.info("resuming the sweep stored in %s", path)
        tuner = tune.Tuner.restore(
            str(path), trainable=runnable, resume_errored=True, param_space=param_space
        )
    else:
        tuner = tune.Tuner(
            runnable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max_concurrent,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
                # One worker process serves trial after trial: torch, MLflow and the
                # network's first kernels load once per worker, not once per trial.
                reuse_actors=True,
            ),
            run_config=_run_config(storage_path, name, max_failures),
        )
    return tuner.fit()


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
        domains[f"knob:{knob}"] = builders[kind](values)
    return domains


def _scheduler(pruner: str, max_t: int, mode: str, fold_score: str) -> Any:
    """Early stopping over folds: ASHA, the median rule, Optuna's Wilcoxon pruner or none."""
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    if pruner == "asha":
        return ASHAScheduler(time_attr="folds_done", max_t=max_t, grace_period=1)
    if pruner == "median":
        return MedianStoppingRule(time_attr="folds_done", grace_period=1, min_samples_required=2)
    if pruner == "wilcoxon":
        import optuna

        from platform.pruning import OptunaPrunerScheduler

        return OptunaPrunerScheduler(optuna.pruners.WilcoxonPruner(), score=fold_score,
                                     step="folds_done", mode=mode)
    return None


def run_search(
    base_trial: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    space: Mapping[str, Mapping[str, Any]],
    metric: str,
    mode: str,
    num_samples: int,
    max_concurrent: int,
    pruner: str,
    n_folds: int,
    storage_url: str,
    study_name: str,
    seed: int,
    storage_path: Path,
    name: str,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_failures: int,
    resume: bool = True,
) -> tune.ResultGrid:
    """Run an Optuna search through Ray Tune; each trial loops the folds internally.

    With ``resume`` an interrupted search in ``storage_path/name`` is continued (Ray Tune
    restores the searcher's state, so it does not add ``num_samples`` new samples).

    The study lives in ``storage_url`` (an Optuna RDB URL) under ``study_name`` so it can be
    continued and opened in optuna-dashboard. Each trial computes and reports ``metric``
    (a ``search.metric`` name) after every fold (``folds_done`` counts them) so ASHA, the
    median rule or a pruner can stop it early.
    """
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    path = experiment_path(storage_path, name)
    runnable = _resources(cpus_per_trial, gpus_per_trial)
    if resume and tune.Tuner.can_restore(str(path)):
        logger.info("resuming the search stored in %s", path)
        return tune.Tuner.restore(str(path), trainable=runnable, resume_errored=True).fit()
    searcher = OptunaSearch(
        metric=metric,
        mode=mode,
        sampler=optuna.samplers.TPESampler(seed=seed),
        study_name=study_name,
        storage=optuna.storages.RDBStorage(storage_url),
    )
    param_space = {"trial": dict(base_trial), "context": dict(context), "search_metric": metric,
                   **_search_space(space)}
    tuner = tune.Tuner(
        runnable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=max_concurrent),
            scheduler=_scheduler(pruner, n_folds, mode, f"fold_{metric}"),
            num_samples=num_samples,
        ),
        run_config=_run_config(storage_path, name, max_failures),
    )
    return tuner.fit()

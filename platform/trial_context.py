"""Settings every trial of a sweep shares, resolved once in the driver.

Why a separate, Ray-free module: the sweep driver, a Ray worker and the standalone
``python -m platform.trial`` must agree on the cohort, the cache, the fold plan and the
MLflow run to log under. The driver resolves them (generating the synthetic cohort on
first use) into a small JSON-able :class:`TrialContext` that travels with each trial.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from platform.config import SweepConfig
from platform.expand import TrialSpec, expand, sweep_id
from platform.fold_data import ensure_cohort
from platform.tracking import resolve_tracking_uri

__all__ = ["TrialContext", "context_from_sweep"]


@dataclass(frozen=True)
class TrialContext:
    """What a trial needs beyond its own config; plain values so Ray can ship it."""

    cohort: str
    cache_root: str
    n_folds: int
    run_folds: tuple[int, ...]
    cv_seed: int
    splits_file: str | None
    tracking_uri: str
    experiment: str
    parent_run_id: str | None
    sweep_id: str
    cpus_per_trial: float
    gpus_per_trial: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form passed to Ray Tune trials."""
        return asdict(self)


def context_from_sweep(
    sweep: SweepConfig, *, parent_run_id: str | None, progress: bool = True
) -> tuple[TrialContext, list[TrialSpec]]:
    """Resolve the shared settings of ``sweep`` and expand its trials."""
    data = sweep.data
    cache_root = Path(data.cache_root).resolve()
    cohort = ensure_cohort(
        Path(data.cohort).resolve() if data.cohort else None,
        patients=data.synthetic.patients, shape=tuple(data.synthetic.shape),
        seed=data.synthetic.seed, cache_root=cache_root, progress=progress,
    )
    context = TrialContext(
        cohort=str(cohort),
        cache_root=str(cache_root),
        n_folds=sweep.cv.folds,
        run_folds=tuple(sweep.cv.run_folds or range(sweep.cv.folds)),
        cv_seed=sweep.cv.seed,
        splits_file=str(Path(sweep.cv.splits_file).resolve()) if sweep.cv.splits_file else None,
        tracking_uri=resolve_tracking_uri(sweep.tracking.uri, default_root=Path("runs").resolve()),
        experiment=sweep.tracking.experiment or sweep.name,
        parent_run_id=parent_run_id,
        sweep_id=sweep_id(sweep),
        cpus_per_trial=sweep.resources.cpus_per_trial,
        gpus_per_trial=sweep.resources.gpus_per_trial,
    )
    return context, expand(sweep)

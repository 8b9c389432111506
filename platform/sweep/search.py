"""A sweep's Optuna search: its inner folds, the studies on Ray Tune, what each chose.

Nested (one study per outer fold, on that fold's training patients only) or once (one
study over every fold's validation split: optimistic, and said so under Table 1). The
chosen configurations become ordinary test-fold trials of the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from platform.config import SweepConfig
from platform.config.request import FoldKeys, SweepContext, TrialRequest, TrialSpec, sample_of
from platform.sweep.console import ConsoleMode, progress_display
from platform.sweep.expand import best_trials
from platform.sweep.folds import inner_folds
from platform.tracking import log_json
from platform.tune.progress import tune_callbacks
from platform.tune.storage import RayStorage
from platform.tune.tuner import TuneRun, run_search, study_generation

__all__ = ["SearchChoice", "report_choices", "run_searches", "search_folds"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchChoice:
    """What a search (its Optuna study) chose, for which outer folds, having seen which
    patients."""

    study: str
    folds: tuple[int, ...]
    sample: dict[str, Any]
    score: float
    seen: tuple[str, ...]


def search_folds(sweep: SweepConfig, context: SweepContext) -> list[tuple[int | None,
                                                                          list[FoldKeys]]]:
    """``(outer fold, inner folds)`` per search: one per outer fold (nested), or one over
    every fold's validation split (once, the optimistic scheme)."""

    search = sweep.search
    assert search is not None
    config = sweep.tuned_config()

    def inner(outer: FoldKeys) -> list[FoldKeys]:
        folds = inner_folds(outer.train, folds=search.inner_folds,
                            validation_fraction=config.eval.validation_fraction,
                            seed=context.cv_seed + outer.index)
        return [FoldKeys(index=f.index, train=f.train, test=f.test) for f in folds]

    outers = [context.folds[k] for k in context.run_folds]
    if search.scheme == "nested":
        return [(outer.index, inner(outer)) for outer in outers]
    return [(None, [fold.model_copy(update={"index": outer.index}) for outer in outers
                    for fold in inner(outer)])]


def run_searches(sweep: SweepConfig, context: SweepContext, specs: Sequence[TrialSpec],
                *, name: str, resume: bool,
                console: ConsoleMode) -> tuple[list[TrialSpec], list[SearchChoice]]:
    """Run the Optuna search(es); return the chosen configurations' test-fold trials."""

    search = sweep.search
    assert search is not None  # only called for a sweep with a search section
    prefix = f"{search.study_name or sweep.name}-{search.space_digest()}"
    tested: list[TrialSpec] = []
    choices: list[SearchChoice] = []
    for outer, inner in search_folds(sweep, context):
        suffix = "" if outer is None else f"-outer{outer}"
        study = study_generation(search.storage, f"{prefix}{suffix}", restart=not resume)
        base = TrialRequest(spec=specs[0], context=context, search_metric=search.metric,
                            search_mode="min" if search.mode == "min" else "max",
                            inner_folds=tuple(inner), outer_fold=outer)
        display = progress_display(console, f"search {study}{suffix}", metric=search.metric,
                                   mode=search.mode)
        grid = run_search(base, search, study_name=study, n_folds=len(inner),
                          run=TuneRun(storage=RayStorage.of(sweep.ray),
                                      name=f"{name}-search{suffix}", resources=sweep.resources,
                                      failure=sweep.failure, resume=resume,
                                      callbacks=tune_callbacks(display)))
        best = grid.get_best_result(metric=search.metric, mode=search.mode)
        if best.config is None or best.metrics is None:  # both read from reported results
            raise RuntimeError(f"search {study}: its best trial reported no result")
        folds = context.run_folds if outer is None else (outer,)
        seen = sorted({key for fold in inner for key in (*fold.train, *fold.test)})
        choice = SearchChoice(study, tuple(folds), sample_of(best.config),
                              float(best.metrics.get(search.metric, float("nan"))), tuple(seen))
        logger.info("search %s chose %s (%s %.4f on %d patients) for test fold(s) %s",
                    study, choice.sample, search.metric, choice.score, len(seen),
                    list(folds))
        choices.append(choice)
        tested += best_trials(sweep, choice.sample, folds)
    return tested, choices


def report_choices(sweep: SweepConfig, context: SweepContext,
                    choices: Sequence[SearchChoice]) -> list[str]:
    """Log every choice and the patients it saw on the parent run; Table 1's notes."""

    assert sweep.search is not None and context.parent_run_id is not None
    log_json(context.tracking_uri, context.parent_run_id, "search_choices.json",
             [asdict(choice) for choice in choices])
    if sweep.search.scheme == "once":
        return [f"{sweep.tuned_variant}: one configuration {choices[0].sample} chosen on "
                "validation patients of every fold, then tested on every fold: the estimate "
                "is optimistic (scheme: once)"]
    return [f"{sweep.tuned_variant}, fold {choice.folds[0]}: chose {choice.sample} "
            f"({sweep.search.metric} {choice.score:.4f} on {len(choice.seen)} training "
            "patients of that fold); the table is the outer cross-validation estimate"
            for choice in choices]

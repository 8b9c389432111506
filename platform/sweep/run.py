"""Run a validated sweep: cohort, folds, cache, trials on Ray, and Table 1 at the end.

Step by step: generates the synthetic cohort if the sweep uses one, plans the
patient-level folds, warms the preprocessing cache (:mod:`platform.sweep.prepare`),
expands the sweep into its ``(variant, fold)`` trials, keys them by content
(:mod:`platform.sweep.keys`) and plans the work (:mod:`platform.sweep.plan`): every
finished training or evaluation of the same key in the experiment is reused, each
training to run is one Ray Tune trial that also runs every evaluation of it. Then it ends
with Table 1 (mean +- sd over folds; Table 2's seconds and patches per patient when
variants share a training) in the terminal and on the parent run. With a ``search``
section an Optuna search runs first (:mod:`platform.sweep.search`). Re-running continues
an interrupted sweep; ``resume=False`` and ``retrain`` redo finished work (earlier Ray Tune
state is kept, renamed).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from platform.config import SweepConfig
from platform.config.request import SweepContext, TrialRequest, TrialSpec
from platform.evaluation.metrics import DICE
from platform.postprocessing.external_test import after_cross_validation
from platform.report.rebuild import TableLayout, publish_sweep_tables
from platform.report.table1 import render_table1
from platform.sweep.console import DETAILED, ConsoleMode, progress_display, sweep_epilogue
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.sweep.plan import SweepPlan, plan_sweep
from platform.sweep.prepare import prepare_cache
from platform.sweep.search import report_choices, run_searches
from platform.tracking import end_run, fetch_trial_results, find_sweep_run, start_sweep_run
from platform.tracking.provenance import git_state
from platform.tracking.sweep_lock import Invocation, SweepAlreadyRunning, SweepLock
from platform.tracking.work import FinishedWork, finished_work, link_evaluation
from platform.tune.progress import tune_callbacks
from platform.tune.storage import ExperimentInUse, RayStorage
from platform.tune.tuner import TuneRun, run_grid, shutdown_ray, start_ray

__all__ = ["run"]

logger = logging.getLogger(__name__)


def _table(sweep: SweepConfig, context: SweepContext, plan: SweepPlan,
           variants: Sequence[str], notes: Sequence[str] = ()) -> bool:
    """Fetch the evaluations of the sweep's keys, print Table 1 (Table 2's columns when
    variants share trainings), log it, its LaTeX and figures on the parent run
    (:mod:`platform.report.rebuild`); return whether every fold run now finished."""

    assert context.parent_run_id is not None  # the table belongs to a parent run
    every_run = fetch_trial_results(context.tracking_uri, context.parent_run_id)
    results = [r for r in every_run if r.evaluation_key in plan.evaluation_keys]
    layout = TableLayout.of_sweep(sweep, variants, plan.table_folds,
                                  notes=(*notes, *plan.notes(git_state()[0])),
                                  timing=plan.shares_trainings)
    table = layout.table1(results)
    render_table1(table)
    publish_sweep_tables(context.tracking_uri, context.parent_run_id, table, layout,
                         every_run, sweep.model_dump(mode="json"))  # search runs: figures
    return table.complete


def _start_parent(sweep: SweepConfig, context: SweepContext, path: Path, resume: bool) -> str:

    if resume:
        existing = find_sweep_run(context.tracking_uri, context.experiment, context.sweep_id)
        if existing:
            logger.info("continuing MLflow parent run %s", existing)
            return existing
    resolved = yaml.safe_dump(sweep.model_dump(mode="json"), sort_keys=False)
    return start_sweep_run(
        context.tracking_uri, context.experiment, sweep_name=sweep.name,
        sweep_id=context.sweep_id, config_yaml=resolved, source_yaml=path.read_text(), tags={},
    )


def _plan(sweep: SweepConfig, context: SweepContext, specs: Sequence[TrialSpec], *,
          resume: bool, retrain: Sequence[str]) -> SweepPlan:
    """Key ``specs`` and plan them against the finished work of the sweep's experiment
    (none of it with ``--restart`` or ``reuse.enabled: false``)."""

    specs = keyed(specs, context)
    finished = FinishedWork()
    if resume and sweep.reuse.enabled:
        finished = finished_work(context.tracking_uri, context.experiment)
        finished = finished.without_trainings(
            {spec.training_key for spec in specs if spec.variant in retrain})
    return plan_sweep(specs, run_folds=context.run_folds, finished=finished)


def _requests(plan: SweepPlan, context: SweepContext, *, fresh_after_ms: int | None,
              retrain: Sequence[str]) -> list[TrialRequest]:
    """One Ray trial per training to run or to evaluate; forced work reuses only what
    ended after ``fresh_after_ms`` (a claim this sweep waited on)."""
    requests = []
    for work in plan.work:
        forced = fresh_after_ms is not None and (
            not retrain or any(spec.variant in retrain for spec in work.evaluate))
        requests.append(TrialRequest(spec=work.evaluate[0], also_evaluate=work.evaluate[1:],
                                     context=context,
                                     fresh_after_ms=fresh_after_ms if forced else None))
    return requests


def _link_reused(plan: SweepPlan, context: SweepContext) -> None:

    assert context.parent_run_id is not None
    for spec, done in plan.reused:
        link_evaluation(context.tracking_uri, parent_run_id=context.parent_run_id, source=done,
                        variant=spec.variant, fold=spec.fold, sweep_id=context.sweep_id,
                        trial_id=spec.trial_id)


def run(sweep: SweepConfig, path: Path, *, resume: bool, retrain: Sequence[str] = (),
        console: ConsoleMode = DETAILED) -> int:
    """Execute a validated sweep; return the process exit code (0 all trials finished, 1
    some failed, 2 a case the sweep cannot use, or the sweep is already running: one line
    names the running driver).

    The driver holds the sweep's lock in the store (:mod:`platform.tracking.sweep_lock`)
    and its Ray Tune folders while it runs; its trials' claims are owned by this
    invocation.
    """
    cohort = materialize_cohort(sweep.data)
    if not prepare_cache(sweep, cohort):
        return 2  # cases the sweep cannot use: bad input (logged one line each)
    context = build_context(sweep, cohort, parent_run_id=None)
    name = f"{sweep.name}-{context.sweep_id}"
    invocation = Invocation.current()
    lock = SweepLock(context.tracking_uri, context.experiment, context.sweep_id,
                     sweep=sweep.name, stale_after_s=sweep.reuse.claim_stale_after_s,
                     invocation=invocation)
    storage = RayStorage.of(sweep.ray)
    try:
        with lock, storage.locked(name), storage.locked(f"{name}-search"):
            context = context.model_copy(update={"invocation": invocation.id,
                                                 "sweep_lock": lock.name})
            return _run_locked(sweep, path, context, resume=resume, retrain=retrain,
                               console=console)
    except (SweepAlreadyRunning, ExperimentInUse) as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 2


def _run_locked(sweep: SweepConfig, path: Path, context: SweepContext, *, resume: bool,
                retrain: Sequence[str], console: ConsoleMode) -> int:
    """:func:`run` once the driver holds the sweep's locks."""
    name = f"{sweep.name}-{context.sweep_id}"
    if not resume:
        for experiment in (name, f"{name}-search"):
            RayStorage.of(sweep.ray).set_aside(experiment)
    parent = _start_parent(sweep, context, path, resume)
    context = context.model_copy(update={"parent_run_id": parent})
    started = time.perf_counter()
    reuse_all = resume and sweep.reuse.enabled and not retrain
    fresh_after_ms = None if reuse_all else int(time.time() * 1000)
    ours = start_ray(sweep.ray, quiet=console.quiet)
    complete = False
    try:
        specs = expand(sweep, every_fold=sweep.search is None)
        notes: list[str] = []
        if sweep.search is not None:
            specs, choices = run_searches(sweep, context, specs, name=name, resume=resume,
                                         console=console)
            notes = report_choices(sweep, context, choices)
        plan = _plan(sweep, context, specs, resume=resume, retrain=retrain)
        print(plan.line(), flush=True)  # what this run will cost, in every console mode
        _link_reused(plan, context)
        requests = _requests(plan, context, fresh_after_ms=fresh_after_ms, retrain=retrain)
        if requests:
            display = progress_display(console, f"{sweep.name}: trials", metric=DICE,
                                       mode="max")
            run_grid(requests, TuneRun(storage=RayStorage.of(sweep.ray), name=name,
                                       resources=sweep.resources, failure=sweep.failure,
                                       resume=resume, callbacks=tune_callbacks(display)))
        variants = list(dict.fromkeys(spec.variant for spec in specs))
        notes += after_cross_validation(sweep, context, variants)
        complete = _table(sweep, context, plan, variants, notes)
    finally:
        if ours:
            shutdown_ray()
        end_run(context.tracking_uri, parent, "FINISHED" if complete else "FAILED")
    logger.info("sweep %s took %.0f s; MLflow: %s", sweep.name, time.perf_counter() - started,
                context.tracking_uri)
    sweep_epilogue(context.tracking_uri, sweep.name, parent)
    return 0 if complete else 1



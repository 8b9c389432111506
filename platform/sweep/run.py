"""The front door: ``python -m platform.sweep SWEEP.yaml [key=value ...]``.

Validates the sweep file (and any dotted overrides) and the inputs it names before Ray
starts, then, step by step: generates the synthetic cohort if the sweep uses one, plans
the patient-level folds, warms the preprocessing cache (``--prepare-only`` stops here),
expands the sweep into its ``(variant, fold)`` trials, keys them by content
(:mod:`platform.sweep.keys`) and plans the work (:mod:`platform.sweep.plan`): every finished
training or evaluation of the same key in the experiment is reused, each training to
run is one Ray Tune trial that also runs every evaluation of it. Then it ends with
Table 1 (mean +- sd over folds; Table 2's seconds and patches per patient when variants
share a training) in the terminal and on the parent run. With a ``search`` section it
runs an Optuna search first and then evaluates the best configuration on the test
folds. Re-running the same command continues an interrupted sweep; ``--restart`` (all)
and ``--retrain VARIANT`` redo finished work (earlier Ray Tune state is kept, renamed).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from platform.config import ConfigError, SweepConfig, load_sweep
from platform.config.request import FoldKeys, SweepContext, TrialRequest, TrialSpec
from platform.sweep.console import (
    DETAILED,
    ConsoleMode,
    configure_console,
    progress_display,
    sweep_epilogue,
)
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import (
    best_trials,
    expand,
    format_search,
    format_trials,
    search_plan_line,
)
from platform.sweep.inputs import check_inputs
from platform.sweep.keys import keyed
from platform.sweep.plan import SweepPlan, plan_sweep
from platform.tracking.work import FinishedWork
from platform.tune.storage import RayStorage

__all__ = ["main", "prepare_cache", "run"]

logger = logging.getLogger(__name__)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m platform.sweep",
        description="Run an ablation sweep or an Optuna search from one YAML file "
        "(Ray Tune trials per variant x fold, MLflow tracking, Table 1 at the end).",
        epilog="example: python -m platform.sweep sweeps/quickstart.yaml train.iterations=50",
    )
    parser.add_argument("sweep", type=Path, help="sweep YAML file (see sweeps/README.md)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides: cv.folds=2 ...")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate, print the cohort size and the trials, and exit")
    parser.add_argument("--prepare-only", action="store_true",
                        help="generate the synthetic cohort if needed, warm the "
                        "preprocessing cache for every variant, and exit")
    parser.add_argument("--restart", action="store_true",
                        help="start the sweep afresh: train and evaluate everything again "
                        "and start a new Optuna study (by default a re-run continues it "
                        "and reuses every finished training and evaluation)")
    parser.add_argument("--retrain", action="append", default=[], metavar="VARIANT",
                        help="train VARIANT again (and evaluate it again) even where a "
                        "finished training of the same key exists; repeatable")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: every log line, Ray Tune's trial tables and the workers' "
                        "output instead of one progress display; -vv: debug logging")
    # Intermixed: `SWEEP --dry-run key=value` must not leave the overrides unparsed.
    return parser.parse_intermixed_args(argv)


def prepare_cache(sweep: SweepConfig, cohort: Path) -> bool:
    """Warm the cache with every variant's steps (overrides included); True if every case
    was built and none lost more of its lesion than its variant allows.

    Every lesion loss is logged; a case over ``preprocessing.max_lesion_loss`` is refused
    here, by name, before Ray starts.
    """
    from data_pipeline.cohort.cohort import load_cohort
    from data_pipeline.prepare import warm_cache
    from data_pipeline.preprocess import canonical_steps

    lists = [variant.config.preprocessing.steps for variant in sweep.variants]
    result = warm_cache(load_cohort(cohort), lists, Path(sweep.data.cache_root))
    logger.info("preprocessing cache: %d entries already there, %d built, %d failed",
                result.cached, result.built, len(result.failed))
    for key, problem in result.failed:
        logger.error("case %s: %s", key, problem)
    refused = []
    for variant in sweep.variants:
        preprocessing = variant.config.preprocessing
        steps = canonical_steps(preprocessing.steps)
        for (key, text), loss in sorted(result.losses.items()):
            if text != steps or loss.fraction == 0:
                continue
            problem = loss.problem(preprocessing.max_lesion_loss)
            if problem is None:
                logger.info("case %s (variant %s): preprocessing took %.3f %% of the lesion",
                            key, variant.name, 100 * loss.fraction)
            else:
                refused.append(f"case {key} (variant {variant.name}): {problem}")
    for line in refused:
        logger.error("refused %s", line)
    return not result.failed and not refused


@dataclass(frozen=True)
class SearchChoice:
    """What a search (its Optuna study) chose, for which outer folds, having seen which
    patients."""

    study: str
    folds: tuple[int, ...]
    sample: dict[str, Any]
    score: float
    seen: tuple[str, ...]


def _search_folds(sweep: SweepConfig, context: SweepContext) -> list[tuple[int | None,
                                                                          list[FoldKeys]]]:
    """``(outer fold, inner folds)`` per search: one per outer fold (nested), or one over
    every fold's validation split (once, the optimistic scheme)."""
    from platform.sweep.folds import inner_folds

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


def _run_search(sweep: SweepConfig, context: SweepContext, specs: Sequence[TrialSpec],
                *, name: str, resume: bool,
                console: ConsoleMode) -> tuple[list[TrialSpec], list[SearchChoice]]:
    """Run the Optuna search(es); return the chosen configurations' test-fold trials."""
    from platform.config.request import sample_of
    from platform.tune.progress import tune_callbacks
    from platform.tune.tuner import run_search, study_generation

    search = sweep.search
    assert search is not None  # only called for a sweep with a search section
    prefix = f"{search.study_name or sweep.name}-{search.space_digest()}"
    tested: list[TrialSpec] = []
    choices: list[SearchChoice] = []
    for outer, inner in _search_folds(sweep, context):
        suffix = "" if outer is None else f"-outer{outer}"
        study = study_generation(search.storage, f"{prefix}{suffix}", restart=not resume)
        base = TrialRequest(spec=specs[0], context=context, search_metric=search.metric,
                            inner_folds=tuple(inner), outer_fold=outer)
        grid = run_search(base, search, study_name=study,
                          n_folds=len(inner), storage=RayStorage.of(sweep.ray),
                          name=f"{name}-search{suffix}", resources=sweep.resources,
                          failure=sweep.failure, resume=resume,
                          callbacks=tune_callbacks(progress_display(
                              console, f"search {study}{suffix}", metric=search.metric,
                              mode=search.mode)))
        best = grid.get_best_result(metric=search.metric, mode=search.mode)
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


def _report_choices(sweep: SweepConfig, context: SweepContext,
                    choices: Sequence[SearchChoice]) -> list[str]:
    """Log every choice and the patients it saw on the parent run; Table 1's notes."""
    from platform.tracking import log_json

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


def _table(sweep: SweepConfig, context: SweepContext, plan: SweepPlan,
           variants: Sequence[str], notes: Sequence[str] = ()) -> bool:
    """Fetch the evaluations of the sweep's keys, print Table 1 (Table 2's columns when
    variants share trainings), log it, its LaTeX and figures on the parent run
    (:mod:`platform.report.rebuild`); return whether every fold run now finished."""
    from platform.report.rebuild import TableLayout, publish_sweep_tables
    from platform.report.table1 import render_table1
    from platform.tracking import fetch_trial_results
    from platform.tracking.provenance import git_state

    assert context.parent_run_id is not None  # the table belongs to a parent run
    every_run = fetch_trial_results(context.tracking_uri, context.parent_run_id)
    results = [r for r in every_run if r.evaluation_key in plan.evaluation_keys]
    reference = {v.name: dict(v.reference) for v in sweep.variants if v.reference}
    reference = {k: v for k, v in reference.items() if k in variants}
    layout = TableLayout(variants=tuple(variants), folds=plan.table_folds,
                         reference=reference, notes=(*notes, *plan.notes(git_state()[0])),
                         timing=plan.shares_trainings)
    table = layout.table1(results)
    render_table1(table)
    publish_sweep_tables(context.tracking_uri, context.parent_run_id, table, layout,
                         every_run, sweep.model_dump(mode="json"))  # search runs: figures
    return table.complete


def _start_parent(sweep: SweepConfig, context: SweepContext, path: Path, resume: bool) -> str:
    from platform.tracking import find_sweep_run, start_sweep_run

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
    from platform.tracking.work import FinishedWork, finished_work

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
    from platform.tracking.work import link_evaluation

    assert context.parent_run_id is not None
    for spec, done in plan.reused:
        link_evaluation(context.tracking_uri, parent_run_id=context.parent_run_id, source=done,
                        variant=spec.variant, fold=spec.fold, sweep_id=context.sweep_id,
                        trial_id=spec.trial_id)


def run(sweep: SweepConfig, path: Path, *, resume: bool, retrain: Sequence[str] = (),
        console: ConsoleMode = DETAILED) -> int:
    """Execute a validated sweep; return the process exit code (0 all trials finished)."""
    from platform.evaluation.metrics import DICE
    from platform.tracking import end_run
    from platform.tune.progress import tune_callbacks
    from platform.tune.tuner import shutdown_ray, start_ray

    cohort = materialize_cohort(sweep.data)
    if not prepare_cache(sweep, cohort):
        return 1
    context = build_context(sweep, cohort, parent_run_id=None)
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
            specs, choices = _run_search(sweep, context, specs, name=name, resume=resume,
                                         console=console)
            notes = _report_choices(sweep, context, choices)
        plan = _plan(sweep, context, specs, resume=resume, retrain=retrain)
        print(plan.line(), flush=True)  # what this run will cost, in every console mode
        _link_reused(plan, context)
        requests = _requests(plan, context, fresh_after_ms=fresh_after_ms, retrain=retrain)
        if requests:
            from platform.tune.tuner import run_grid

            run_grid(requests, storage=RayStorage.of(sweep.ray), name=name,
                     resources=sweep.resources, failure=sweep.failure, resume=resume,
                     callbacks=tune_callbacks(progress_display(
                         console, f"{sweep.name}: trials", metric=DICE, mode="max")))
        variants = list(dict.fromkeys(spec.variant for spec in specs))
        from platform.postprocessing.external_test import after_cross_validation  # issue 14

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


def _dry_run(sweep: SweepConfig, summary_line: str) -> None:
    """Print the cohort, the trials, the search and the plan's one line (nothing runs;
    the synthetic cohort is generated when missing, since its folds decide the keys)."""
    from platform.tracking.work import finished_work

    print(summary_line)
    print(format_trials(expand(sweep)))
    if sweep.search is not None:
        print(format_search(sweep))
        print(search_plan_line(sweep))
        return
    context = build_context(sweep, materialize_cohort(sweep.data), parent_run_id=None)
    finished = finished_work(context.tracking_uri, context.experiment) \
        if sweep.reuse.enabled else None
    specs = keyed(expand(sweep, every_fold=True), context)
    plan = plan_sweep(specs, run_folds=context.run_folds, finished=finished or FinishedWork())
    print(plan.line())


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit codes: 0 done, 1 some trial or case failed, 2 invalid sweep or input."""
    args = _parse(argv)
    console = configure_console(args.verbose)
    try:
        sweep = load_sweep(args.sweep, args.overrides)
        summary = check_inputs(sweep, source=str(args.sweep))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    unknown = sorted(set(args.retrain) - set(sweep.variant_names))
    if unknown:
        print(f"{args.sweep}: --retrain {', '.join(unknown)}: no such variant; variants: "
              f"{', '.join(sweep.variant_names)}", file=sys.stderr)
        return 2
    if args.dry_run:
        _dry_run(sweep, summary.line())
        return 0
    if args.prepare_only:
        return 0 if prepare_cache(sweep, materialize_cohort(sweep.data)) else 1
    return run(sweep, args.sweep, resume=not args.restart, retrain=args.retrain,
               console=console)


"""The front door: ``python -m platform.sweep SWEEP.yaml [key=value ...]``.

Validates the sweep file (and any dotted overrides) and the inputs it names before Ray
starts, then, step by step: generates the synthetic cohort if the sweep uses one, plans
the patient-level folds, warms the preprocessing cache (``--prepare-only`` stops here),
expands the sweep into one Ray Tune trial per ``(variant, fold)``, runs them under an
MLflow parent run, and ends with Table 1 (mean +- sd over folds) in the terminal and on
the parent run. With a ``search`` section it runs an Optuna search first and then
evaluates the best configuration on the test folds. Re-running the same command
continues an interrupted sweep without redoing finished trials; ``--restart`` starts it
afresh (the earlier Ray Tune state is kept, renamed).
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
from platform.config.inputs import check_inputs
from platform.context import build_context, materialize_cohort
from platform.expand import best_trials, expand, format_search, format_trials
from platform.request import FoldKeys, SweepContext, TrialRequest, TrialSpec
from platform.storage import RayStorage

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
                        help="start the sweep afresh even if an interrupted one exists "
                        "(by default a re-run continues it)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # Intermixed: `SWEEP --dry-run key=value` must not leave the overrides unparsed.
    return parser.parse_intermixed_args(argv)


def prepare_cache(sweep: SweepConfig, cohort: Path) -> bool:
    """Warm the cache with every variant's steps (overrides included); True if every case
    was built and none lost more of its lesion than its variant allows.

    Every lesion loss is logged; a case over ``preprocessing.max_lesion_loss`` is refused
    here, by name, before Ray starts.
    """
    from data_pipeline.cohort import load_cohort
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


def _requests(specs: Sequence[TrialSpec], context: SweepContext) -> list[TrialRequest]:
    return [TrialRequest(spec=spec, context=context) for spec in specs]


@dataclass(frozen=True)
class SearchChoice:
    """What a search chose, for which outer folds, having seen which patients."""

    folds: tuple[int, ...]
    sample: dict[str, Any]
    score: float
    seen: tuple[str, ...]


def _search_folds(sweep: SweepConfig, context: SweepContext) -> list[tuple[int | None,
                                                                          list[FoldKeys]]]:
    """``(outer fold, inner folds)`` per search: one per outer fold (nested), or one over
    every fold's validation split (once, the optimistic scheme)."""
    from platform.folds import inner_folds

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
                *, name: str, resume: bool) -> tuple[list[TrialSpec], list[SearchChoice]]:
    """Run the Optuna search(es); return the chosen configurations' test-fold trials."""
    from platform.request import sample_of
    from platform.tuner import run_search

    search = sweep.search
    assert search is not None  # only called for a sweep with a search section
    study = search.study_name or sweep.name
    tested: list[TrialSpec] = []
    choices: list[SearchChoice] = []
    for outer, inner in _search_folds(sweep, context):
        suffix = "" if outer is None else f"-outer{outer}"
        base = TrialRequest(spec=specs[0], context=context, search_metric=search.metric,
                            inner_folds=tuple(inner), outer_fold=outer)
        grid = run_search(base, search, study_name=f"{study}{suffix}",
                          n_folds=len(inner), storage=RayStorage.of(sweep.ray),
                          name=f"{name}-search{suffix}", resources=sweep.resources,
                          failure=sweep.failure, resume=resume)
        best = grid.get_best_result(metric=search.metric, mode=search.mode)
        folds = context.run_folds if outer is None else (outer,)
        seen = sorted({key for fold in inner for key in (*fold.train, *fold.test)})
        choice = SearchChoice(tuple(folds), sample_of(best.config),
                              float(best.metrics.get(search.metric, float("nan"))), tuple(seen))
        logger.info("search %s chose %s (%s %.4f on %d patients) for test fold(s) %s",
                    f"{study}{suffix}", choice.sample, search.metric, choice.score, len(seen),
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


def _table(sweep: SweepConfig, context: SweepContext, variants: Sequence[str],
           notes: Sequence[str] = ()) -> bool:
    """Fetch the child runs, print Table 1 and log it; return whether every trial finished."""
    from platform.reporting import build_table1, render_table1
    from platform.tracking import fetch_trial_results, log_table

    assert context.parent_run_id is not None  # the table belongs to a parent run
    results = fetch_trial_results(context.tracking_uri, context.parent_run_id)
    reference = {v.name: dict(v.reference) for v in sweep.variants if v.reference}
    reference = {k: v for k, v in reference.items() if k in variants}
    table = build_table1(results, variants=variants, folds=context.run_folds,
                         reference=reference or None, notes=notes)
    render_table1(table)
    log_table(context.tracking_uri, context.parent_run_id, markdown=table.to_markdown(),
              csv=table.to_csv(), metrics=table.to_metrics())
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


def run(sweep: SweepConfig, path: Path, *, resume: bool) -> int:
    """Execute a validated sweep; return the process exit code (0 all trials finished)."""
    from platform.tracking import end_run
    from platform.tuner import shutdown_ray, start_ray

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
    ours = start_ray(sweep.ray)
    complete = False
    try:
        specs = expand(sweep)
        notes: list[str] = []
        if sweep.search is not None:
            specs, choices = _run_search(sweep, context, specs, name=name, resume=resume)
            notes = _report_choices(sweep, context, choices)
        from platform.tuner import run_grid

        run_grid(_requests(specs, context), storage=RayStorage.of(sweep.ray), name=name,
                 resources=sweep.resources, failure=sweep.failure, resume=resume)
        variants = list(dict.fromkeys(spec.variant for spec in specs))
        complete = _table(sweep, context, variants, notes)
    finally:
        if ours:
            shutdown_ray()
        end_run(context.tracking_uri, parent, "FINISHED" if complete else "FAILED")
    logger.info("sweep %s took %.0f s; MLflow: %s", sweep.name, time.perf_counter() - started,
                context.tracking_uri)
    return 0 if complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit codes: 0 done, 1 some trial or case failed, 2 invalid sweep or input."""
    args = _parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sweep = load_sweep(args.sweep, args.overrides)
        summary = check_inputs(sweep, source=str(args.sweep))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.dry_run:
        print(summary.line())
        print(format_trials(expand(sweep)))
        if sweep.search is not None:
            print(format_search(sweep))
        return 0
    if args.prepare_only:
        return 0 if prepare_cache(sweep, materialize_cohort(sweep.data)) else 1
    return run(sweep, args.sweep, resume=not args.restart)


if __name__ == "__main__":
    sys.exit(main())

"""The front door: ``python -m platform.sweep SWEEP.yaml [key=value ...]``.

Validates the sweep file (and any dotted overrides) before Ray starts, expands it into
one Ray Tune trial per ``(variant, fold)``, runs them under an MLflow parent run, and ends
with Table 1 (mean +- sd over folds) in the terminal and on the parent run. With a
``search`` section it runs an Optuna search instead and then evaluates the best
configuration on the test folds. Re-running the same command (or ``--resume``) continues
an interrupted sweep without redoing finished trials; ``--restart`` starts it afresh.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from platform.config import ConfigError, SweepConfig, load_sweep
from platform.expand import TrialSpec, best_trials, format_trials
from platform.trial_context import TrialContext, context_from_sweep

__all__ = ["main"]

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
    parser.add_argument("--dry-run", action="store_true", help="print the trials and exit")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", default=True,
                       help="continue an interrupted sweep (the default)")
    group.add_argument("--restart", action="store_true",
                       help="start the sweep afresh even if an interrupted one exists")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # Intermixed: `SWEEP --dry-run key=value` must not leave the overrides unparsed.
    return parser.parse_intermixed_args(argv)


def _run_trials(sweep: SweepConfig, context: TrialContext, specs: Sequence[TrialSpec],
                *, resume: bool, name: str) -> None:
    from platform.tuner import run_grid

    run_grid(
        [spec.payload() for spec in specs], context.as_dict(),
        storage_path=Path(sweep.ray.storage_path), name=name,
        cpus_per_trial=sweep.resources.cpus_per_trial,
        gpus_per_trial=sweep.resources.gpus_per_trial,
        max_concurrent=sweep.resources.max_concurrent_trials,
        max_failures=sweep.failure.max_failures, resume=resume,
    )


def _run_search(sweep: SweepConfig, context: TrialContext, specs: Sequence[TrialSpec],
                *, name: str, resume: bool) -> list[TrialSpec]:
    """Run the Optuna search; return the best configuration's test-fold trials."""
    from platform.tuner import run_search

    search = sweep.search
    tuned = specs[0]
    grid = run_search(
        tuned.payload(), context.as_dict(), space=search.space_spec(), metric=search.metric,
        mode=search.mode, num_samples=search.num_samples, max_concurrent=search.max_concurrent,
        pruner=search.pruner, n_folds=len(context.run_folds), storage_url=search.storage,
        study_name=search.study_name or sweep.name, seed=search.seed,
        storage_path=Path(sweep.ray.storage_path), name=f"{name}-search",
        cpus_per_trial=sweep.resources.cpus_per_trial,
        gpus_per_trial=sweep.resources.gpus_per_trial, max_failures=sweep.failure.max_failures,
        resume=resume,
    )
    best = grid.get_best_result(metric=search.metric, mode=search.mode)
    knobs = {k.removeprefix("knob:"): v for k, v in best.config.items() if k.startswith("knob:")}
    logger.info("best configuration %s: %s %.4f", knobs, search.metric,
                best.metrics.get(search.metric, float("nan")))
    return best_trials(sweep, knobs)


def _table(sweep: SweepConfig, context: TrialContext, variants: Sequence[str]) -> bool:
    """Fetch the child runs, print Table 1 and log it; return whether every trial finished."""
    from platform.reporting import build_table1, render_table1
    from platform.tracking import fetch_trial_results, log_table

    results = fetch_trial_results(context.tracking_uri, context.parent_run_id)
    reference = {v.name: dict(v.reference) for v in sweep.variants if v.reference}
    reference = {k: v for k, v in reference.items() if k in variants}
    table = build_table1(results, variants=variants, folds=context.run_folds,
                         reference=reference or None)
    render_table1(table)
    log_table(context.tracking_uri, context.parent_run_id, markdown=table.to_markdown(),
              csv=table.to_csv(), metrics=table.to_metrics())
    return table.complete


def _start_parent(sweep: SweepConfig, context: TrialContext, path: Path, resume: bool) -> str:
    from platform.tracking import find_sweep_run, start_sweep_run

    if resume:
        existing = find_sweep_run(context.tracking_uri, context.experiment, context.sweep_id)
        if existing:
            logger.info("continuing MLflow parent run %s", existing)
            return existing
    return start_sweep_run(
        context.tracking_uri, context.experiment, sweep_name=sweep.name,
        sweep_id=context.sweep_id, config_yaml=path.read_text(), tags={},
    )


def run(sweep: SweepConfig, path: Path, *, resume: bool) -> int:
    """Execute a validated sweep; return the process exit code (0 all trials finished)."""
    from platform.tracking import end_run
    from platform.tuner import set_aside, shutdown_ray, start_ray

    context, specs = context_from_sweep(sweep, parent_run_id=None)
    name = f"{sweep.name}-{context.sweep_id}"
    if not resume:
        for experiment in (name, f"{name}-search"):
            set_aside(Path(sweep.ray.storage_path), experiment)
    parent = _start_parent(sweep, context, path, resume)
    context = replace(context, parent_run_id=parent)
    started = time.perf_counter()
    ours = start_ray(address=sweep.ray.address, num_cpus=sweep.ray.num_cpus,
                     num_gpus=sweep.ray.num_gpus, object_store_mb=sweep.ray.object_store_mb,
                     include_dashboard=sweep.ray.include_dashboard)
    complete = False
    try:
        if sweep.search is not None:
            specs = _run_search(sweep, context, specs, name=name, resume=resume)
        _run_trials(sweep, context, specs, resume=resume, name=name)
        variants = list(dict.fromkeys(spec.variant for spec in specs))
        complete = _table(sweep, context, variants)
    finally:
        if ours:
            shutdown_ray()
        end_run(context.tracking_uri, parent, "FINISHED" if complete else "FAILED")
    logger.info("sweep %s took %.0f s; MLflow: %s", sweep.name, time.perf_counter() - started,
                context.tracking_uri)
    return 0 if complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit codes: 0 done, 1 some trial failed, 2 invalid sweep file."""
    args = _parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sweep = load_sweep(args.sweep, args.overrides)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"sweep file not found: {err.filename}", file=sys.stderr)
        return 2
    if args.dry_run:
        from platform.expand import expand

        print(format_trials(expand(sweep)))
        return 0
    return run(sweep, args.sweep, resume=not args.restart)


if __name__ == "__main__":
    sys.exit(main())

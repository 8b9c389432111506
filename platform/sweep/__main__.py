"""``python -m platform.sweep SWEEP.yaml [key=value ...]``: validate, then run or plan.

The front door: validates the sweep file (and any dotted overrides) and the inputs it
names before Ray starts, then runs it (:mod:`platform.sweep.run`), only plans it
(``--dry-run``: :mod:`platform.sweep.dry_run`) or only warms the cache
(``--prepare-only``: :mod:`platform.sweep.prepare`). Exit codes: 0 done, 1 some trial
failed, 2 an invalid sweep or input (a case the cohort cannot use included: a dry run
reads every case's headers, a run every case) or the sweep already running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from platform.config import ConfigError, load_sweep
from platform.sweep.console import configure_console
from platform.sweep.inputs import check_inputs, prepare_tracking

__all__ = ["main"]


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
                        help="validate, read every case's headers (exit 2 naming the cases "
                        "that cannot be used), print the trials and the plan, and exit")
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


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit codes: 0 done, 1 some trial failed, 2 invalid sweep or input (cases
    included) or the sweep already running."""
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
    # Each mode imports only what it needs: MLflow for a dry run, torch for the cache,
    # Ray, MLflow and torch for a run; none of them for --help or an invalid sweep.
    if args.dry_run:
        from platform.sweep.dry_run import dry_run  # MLflow

        return dry_run(sweep, summary.line())
    if args.prepare_only:
        from platform.sweep.context import materialize_cohort  # torch (the cohort)
        from platform.sweep.prepare import prepare_cache  # torch (the cache)

        return 0 if prepare_cache(sweep, materialize_cohort(sweep.data)) else 2  # bad input
    from platform.sweep.run import run  # Ray, MLflow and torch

    try:
        prepare_tracking(sweep, source=str(args.sweep))  # a new store: created once, here
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    return run(sweep, args.sweep, resume=not args.restart, retrain=args.retrain,
               console=console)


if __name__ == "__main__":
    sys.exit(main())

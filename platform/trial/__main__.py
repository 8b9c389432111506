"""``python -m platform.trial SWEEP.yaml --variant V --fold K``: one trial without Ray.

For debugging a variant: the same training and evaluations a sweep's trial runs, with a
progress bar and a checkpoint folder on disk, no Ray and no sweep parent run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from platform.config import ConfigError, load_sweep
from platform.config.request import TrialRequest
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.trial.run import ConsoleReporter, run_trial
from platform.trial.stops import TrainingStopped


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m platform.trial",
        description="Run one (variant, fold) trial of a sweep without Ray, for debugging.",
    )
    parser.add_argument("sweep", type=Path, help="sweep YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.iterations=20")
    parser.add_argument("--variant", required=True, help="variant name from the sweep file")
    parser.add_argument("--fold", type=int, required=True, help="test fold index (0-based)")
    parser.add_argument("--work-dir", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_intermixed_args(argv)  # options may sit between the overrides


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry of ``python -m platform.trial``; returns the process exit code."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("platform").setLevel(logging.INFO)
    try:
        sweep = load_sweep(args.sweep, args.overrides)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    chosen = [s for s in expand(sweep) if s.variant == args.variant and s.fold == args.fold]
    if not chosen:
        names = list(sweep.variant_names)
        print(f"no trial for variant {args.variant!r} fold {args.fold}; variants: {names}, "
              f"folds: {list(sweep.cv.folds_to_run())}", file=sys.stderr)
        return 2
    context = build_context(sweep, materialize_cohort(sweep.data), parent_run_id=None)
    spec, = keyed(chosen, context)
    request = TrialRequest(spec=spec, context=context)
    work_dir = args.work_dir or Path(tempfile.gettempdir()) / "stroke-trials" / spec.trial_id
    reporter = ConsoleReporter(work_dir / "checkpoint", iterations=spec.config.train.iterations)
    try:
        outcome, = run_trial(request, reporter, work_dir=work_dir)
    except TrainingStopped as err:  # the traceback is in the MLflow run (failure.txt)
        print(f"trial {spec.trial_id} failed: {err.reason}", file=sys.stderr)
        return 1
    print(json.dumps(outcome.fold_means, indent=2))
    return 0



if __name__ == "__main__":
    sys.exit(main())

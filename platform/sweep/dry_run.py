"""``--dry-run``: what a sweep would run, and what it would reuse, with nothing run.

Needs MLflow (finished work decides the plan line) but neither Ray nor a training. Every
case's headers are read (no pixels: seconds for a cohort), so a cohort whose cases
cannot be used is reported here, one line per case, and the dry run exits 2 (issue 28:
it used to print a plan for a cohort it could not read); a usable case's notes (what
its folder holds besides the CT series) are printed too, in the words of ``inspect``.
"""

from __future__ import annotations

import sys

from data_pipeline.cohort.cohort import check_cohort_headers, load_cohort
from platform.config import SweepConfig
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import (
    expand,
    format_design,
    format_search,
    format_trials,
    search_plan_line,
)
from platform.sweep.keys import keyed
from platform.sweep.plan import plan_sweep
from platform.tracking.work import FinishedWork, finished_work

__all__ = ["dry_run"]


def dry_run(sweep: SweepConfig, summary_line: str) -> int:
    """Print the cohort, its unusable cases, the trials, the search and the plan's one
    line (nothing runs; the synthetic cohort is generated when missing, since its folds
    decide the keys); return the exit code (2: some case cannot be used)."""

    print(summary_line)
    cohort = materialize_cohort(sweep.data)
    problems, notes = check_cohort_headers(load_cohort(cohort))
    for key, texts in notes.items():
        for note in texts:
            print(f"case {key}: {note}")
    for key, problem in problems.items():
        print(f"case {key}: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} case(s) cannot be used (headers read, no pixels); fix or "
              "remove them from the cohort", file=sys.stderr)
        return 2
    if sweep.ablation is not None:
        print(format_design(sweep))
    print(format_trials(expand(sweep)))
    if sweep.search is not None:
        print(format_search(sweep))
        print(search_plan_line(sweep))
        return 0
    context = build_context(sweep, cohort, parent_run_id=None)
    finished = finished_work(context.tracking_uri, context.experiment) \
        if sweep.reuse.enabled else None
    specs = keyed(expand(sweep, every_fold=True), context)
    plan = plan_sweep(specs, run_folds=context.run_folds, finished=finished or FinishedWork())
    print(plan.line())
    return 0

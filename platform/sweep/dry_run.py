"""``--dry-run``: what a sweep would run, and what it would reuse, with nothing run.

Needs MLflow (finished work decides the plan line) but neither Ray nor a training.
"""

from __future__ import annotations

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


def dry_run(sweep: SweepConfig, summary_line: str) -> None:
    """Print the cohort, the trials, the search and the plan's one line (nothing runs;
    the synthetic cohort is generated when missing, since its folds decide the keys)."""

    print(summary_line)
    if sweep.ablation is not None:
        print(format_design(sweep))
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

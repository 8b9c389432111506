"""Which finished run stands for each (variant, fold, seed) of a table, and why one is missing.

A table cell is built from one finished evaluation run per (variant, fold) and training
seed (``train.seed``, a run's param; runs logged without it are seed 0). A second
finished run of the same (variant, fold, seed) is refused, never averaged in; a fold
without any finished run is missing with the reason of its last run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from numbers import Real

from platform.evaluation.metrics import TABLE1_METRICS
from platform.tracking import TrialResult

__all__ = ["SEED_PARAM", "FoldRuns", "fold_outcome", "group_runs", "lesion_loss_notes",
           "seed_of"]

logger = logging.getLogger(__name__)

SEED_PARAM = "train.seed"
FoldRuns = dict[int, TrialResult]
"""The finished run of each training seed of one (variant, fold)."""


def seed_of(run: TrialResult) -> int:
    """The training seed of ``run`` (its ``train.seed`` param; 0 when not logged)."""
    text = run.params.get(SEED_PARAM, "0")
    try:
        return int(text)
    except ValueError:
        return 0


def group_runs(results: Sequence[TrialResult], variants: Sequence[str],
               folds: Sequence[int]) -> dict[tuple[str, int], list[TrialResult]]:
    """``results`` by (variant, fold); runs outside the table are logged and left out."""
    grouped: dict[tuple[str, int], list[TrialResult]] = defaultdict(list)
    for result in results:
        if result.variant in variants and result.fold in folds:
            grouped[(result.variant, result.fold)].append(result)
        else:
            logger.warning("run %s (variant %r, fold %d) is not in the table's variants %s "
                           "and folds %s; left out", result.run_id, result.variant,
                           result.fold, list(variants), list(folds))
    return grouped


def fold_outcome(variant: str, fold: int, runs: Sequence[TrialResult]) -> tuple[FoldRuns, str]:
    """The finished run of each seed of a (variant, fold), or none and why it is missing.

    Raises:
        ValueError: two finished runs of one seed.
    """
    by_seed: dict[int, list[TrialResult]] = defaultdict(list)
    for run in runs:
        if run.status == "FINISHED":
            by_seed[seed_of(run)].append(run)
    for seed, finished in by_seed.items():
        if len(finished) > 1:
            raise ValueError(
                f"variant {variant!r} fold {fold} has {len(finished)} finished runs of seed "
                f"{seed} ({', '.join(r.run_id for r in finished)}); delete the extra runs in "
                "MLflow so that the fold is counted once")
    done: FoldRuns = {}
    for seed, (run,) in sorted(by_seed.items()):
        lacking = [m for m in TABLE1_METRICS if m not in run.metrics]
        if lacking:
            return {}, f"finished without metrics {lacking}"
        done[seed] = run
    if done:
        return done, ""
    if not runs:
        return {}, "not run"
    last = runs[-1]
    reason = last.failure_reason or "no reason recorded"
    if last.status == "RUNNING":
        return {}, "still running (or its process died before ending the run)"
    return {}, f"{last.status.lower()}: {reason}"


def lesion_loss_notes(variants: Sequence[str],
                      grouped: Mapping[tuple[str, int], Sequence[TrialResult]]) -> list[str]:
    """One note per (case, fold, share cut), naming every variant that cut that share.

    Variants with the same preprocessing cut the same voxels, so one line per case
    (not per case and variant) keeps the notes short without hiding a case.
    """
    cut: dict[tuple[int, str, str], list[str]] = {}
    for variant in variants:
        for (name, fold), runs in sorted(grouped.items()):
            if name != variant:
                continue
            for run in runs:
                for row in run.per_patient:
                    lost = row.get("lesion_lost")
                    if isinstance(lost, Real) and float(lost) > 0:
                        share = f"{100 * float(lost):.2f}"
                        cut.setdefault((fold, str(row["case"]), share), []).append(variant)
    return [f"{case} (fold {fold}): preprocessing took {share} % of the lesion in "
            f"{', '.join(dict.fromkeys(names))}"
            for (fold, case, share), names in sorted(cut.items())]

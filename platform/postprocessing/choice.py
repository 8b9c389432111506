"""Choose a variant's post-processing on its cross-validation predictions, as nnU-Net does.

Why on the CV predictions: every cohort case is predicted exactly once there, by the
fold model that never trained on it, so the mean Dice over them is an honest basis for
a choice that must not see any test cohort. Each fold trial scores every candidate of
``eval.postprocessing`` on each of its test cases (a column
``dice_postprocessed_<i>`` beside ``dice`` in ``per_patient.csv``, on the original
grid against the untouched mask); after the sweep
:func:`platform.postprocessing.external_test.choose_for_sweep` averages
them over all folds and keeps the best candidate **only if it raises the mean Dice**
over no post-processing (nnU-Net's ``determine_postprocessing`` rule). The choice and
every number are logged as ``postprocessing.json`` on the sweep's parent run and
written under Table 1; external test ensembles and ``python -m platform.predict --variant``
apply
it. The CV table itself stays the raw predictions' (the choice was made on those cases).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_pipeline.parts.registry import PartSpec
from platform.config.trial import TrialConfig
from platform.evaluation.cases import CaseScores
from platform.evaluation.lesion_metrics import lesion_metrics
from platform.evaluation.metrics import confusion_counts, summarize
from platform.postprocessing.rules import apply_postprocessing, postprocessing_spec

__all__ = ["CHOICE_FILE", "PostprocessingChoice", "candidate_column", "candidate_dice",
           "case_scores",
           "choose", "chosen_spec"]

logger = logging.getLogger(__name__)

CHOICE_FILE = "postprocessing.json"
"""The parent-run artifact holding every variant's choice and its numbers."""


def candidate_column(index: int) -> str:
    """The per-patient column of candidate ``index``'s Dice."""
    return f"dice_postprocessed_{index}"


def candidate_dice(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float],
                   candidates: Sequence[PartSpec]) -> dict[str, float]:
    """Dice of ``pred`` after each candidate, keyed by :func:`candidate_column`.

    The Dice follows :mod:`platform.evaluation.metrics` (1 when both masks are empty).
    """
    scores = {}
    for index, spec in enumerate(candidates):
        counts = confusion_counts(apply_postprocessing(spec, pred, spacing), truth)
        denominator = 2 * counts["tp"] + counts["fp"] + counts["fn"]
        scores[candidate_column(index)] = (2 * counts["tp"] / denominator if denominator
                                           else 1.0)
    return scores


def case_scores(config: TrialConfig) -> CaseScores:
    """The scores beside the voxel metrics of each held-out case: voxel counts (for
    ``summary.json``), lesion-wise metrics at ``eval.surface_tolerance_mm`` and the Dice
    after each ``eval.postprocessing`` candidate."""
    tolerance, candidates = config.eval.surface_tolerance_mm, config.eval.postprocessing

    def scores(pred: Any, truth: Any, spacing: tuple[float, float, float]) -> dict[str, float]:
        return {**confusion_counts(pred, truth),
                **lesion_metrics(pred, truth, spacing, tolerance_mm=tolerance),
                **candidate_dice(pred, truth, spacing, candidates)}

    return scores


@dataclass(frozen=True)
class PostprocessingChoice:
    """One variant's choice: the mean CV Dice without and with each candidate, the winner."""

    variant: str
    cases: int
    baseline_dice: float
    candidate_dice: dict[str, float]
    chosen: PartSpec | None
    candidates: tuple[PartSpec, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``postprocessing.json``."""
        return {"cases": self.cases, "baseline_dice": self.baseline_dice,
                "candidates": [{"postprocessing": spec.dump(), "mean_dice": self.candidate_dice[
                    str(spec)]} for spec in self.candidates],
                "chosen": None if self.chosen is None else self.chosen.dump()}

    def note(self) -> str:
        """One line for under Table 1: what was chosen, or that nothing was, with numbers."""
        tried = ", ".join(f"{name} {dice:.4f}" for name, dice in self.candidate_dice.items())
        where = f"mean Dice over the {self.cases} cross-validation predictions"
        if self.chosen is None:
            return (f"{self.variant}: no post-processing chosen, no candidate raised the "
                    f"{where} ({self.baseline_dice:.4f}; tried {tried})")
        return (f"{self.variant}: post-processing {self.chosen} chosen, it raised the {where} "
                f"from {self.baseline_dice:.4f} to {self.candidate_dice[str(self.chosen)]:.4f} "
                f"(tried {tried})")


def choose(variant: str, rows: Sequence[Mapping[str, Any]],
           candidates: Sequence[PartSpec]) -> PostprocessingChoice:
    """The best candidate by mean Dice over ``rows`` if it beats no post-processing.

    Args:
        rows: per-patient rows of the variant's CV trials (``dice`` and the candidates'
            columns), one per cohort case.

    Raises:
        ValueError: no rows, or a row without a candidate's column (a trial that ran
            with other candidates).
    """
    if not rows:
        raise ValueError(f"variant {variant!r}: no cross-validation predictions to choose on")
    baseline = summarize([float(row["dice"]) for row in rows])[0]
    means: dict[str, float] = {}
    for index, spec in enumerate(candidates):
        column = candidate_column(index)
        missing = [row.get("case") for row in rows if column not in row]
        if missing:
            raise ValueError(f"variant {variant!r}: cases {missing[:5]} have no {column} "
                             f"({spec}); rerun their trials with these candidates")
        means[str(spec)] = summarize([float(row[column]) for row in rows])[0]
    best = max(candidates, key=lambda spec: means[str(spec)], default=None)
    chosen = best if best is not None and means[str(best)] > baseline else None
    return PostprocessingChoice(variant, len(rows), baseline, means, chosen, tuple(candidates))


def chosen_spec(document: Mapping[str, Any], variant: str) -> PartSpec | None:
    """The post-processing a ``postprocessing.json`` records as chosen for ``variant``."""
    chosen = (document.get(variant) or {}).get("chosen")
    return None if chosen is None else postprocessing_spec(chosen)

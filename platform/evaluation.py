"""Evaluate a trained network on held-out patients: tiled inference, threshold, metrics.

Metrics are computed over each patient's cropped volume (the brain bounding box that
preprocessing keeps), so specificity counts the true negatives inside that box, not the
air around the head; Dice, sensitivity and precision do not depend on the crop because
no lesion lies outside it. Seconds per patient (Table 2) cover tiled inference only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data_pipeline.preprocess import PreprocessedCase
from platform.inference import SlidingWindow, binarize
from platform.metrics import METRIC_NAMES, segmentation_metrics, summarize

__all__ = ["CaseEvaluation", "evaluate_cases", "fold_means"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseEvaluation:
    """One held-out patient: its metrics row and its thresholded prediction (cropped grid)."""

    row: dict[str, float | str]
    prediction: np.ndarray


def evaluate_cases(
    model: torch.nn.Module,
    cases: Sequence[PreprocessedCase],
    keys: Sequence[str],
    *,
    inference: SlidingWindow,
    patch_size: tuple[int, int, int],
    threshold: float,
    device: torch.device,
    amp: bool,
) -> Iterable[CaseEvaluation]:
    """Yield one :class:`CaseEvaluation` per case, in order; rows are keyed by case key.

    Each row holds ``case`` (the pseudonymous key), every metric of
    :data:`platform.metrics.METRIC_NAMES`, ``seconds`` of inference and ``patches`` run.
    """
    for key, case in zip(keys, cases, strict=True):
        brain = case.brain.astype(bool)
        started = time.perf_counter()
        probability = inference(model, case.image, patch_size=patch_size, device=device,
                                amp=amp, brain=brain)
        seconds = time.perf_counter() - started
        prediction = binarize(probability, threshold)
        metrics = segmentation_metrics(prediction, case.lesion, case.spacing)
        row: dict[str, float | str] = {"case": key, **metrics, "seconds": seconds}
        row["patches"] = float(inference.count(case.image.shape, patch_size, brain))
        logger.info("evaluated %s: dice %.3f in %.1f s", key, metrics["dice"], seconds)
        yield CaseEvaluation(row=row, prediction=prediction)


def fold_means(rows: Sequence[dict[str, float | str]]) -> dict[str, float]:
    """Mean of each metric over a fold's patients (NaN-aware), plus mean seconds/patient."""
    return {name: summarize([float(row[name]) for row in rows])[0]
            for name in (*METRIC_NAMES, "seconds")}

"""Evaluate a trained network on held-out patients, scored on each scan's original grid.

Why the original grid: variants crop differently (no crop without skull removal, the
brain's box with it), so metrics on each variant's own crop count different voxels, and
lesion voxels cut by the crop would vanish from the ground truth instead of counting as
missed. Here every prediction is pasted back onto the scan's full grid and compared with
the untouched mask read from the cohort, the same way for every variant: specificity over
the whole scan (the paper's likely definition) and over one brain region per patient
(the default skull removal of the original scan, whatever the variant's preprocessing).
Seconds per patient (Table 2) cover tiled inference only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data_pipeline.cohort import CaseRef, load_case
from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.preprocess.remove_skull import brain_mask
from platform.inference import SlidingWindow, binarize
from platform.metrics import (
    METRIC_NAMES,
    PATCHES_PER_PATIENT,
    SECONDS_PER_PATIENT,
    segmentation_metrics,
    summarize,
)

__all__ = ["PER_PATIENT_MEANS", "SCORING_VERSION", "CaseEvaluation", "evaluate_cases", "fold_means"]

SCORING_VERSION = 1
"""Part of every evaluation key (:mod:`platform.work_keys`): bump it when a metric, a
column of the per-patient rows or the grid they are taken on changes, so finished
evaluations are not reused with other numbers."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseEvaluation:
    """One held-out patient: its metrics row and its thresholded prediction on the crop
    (what the network saw; the metrics were taken on the full grid)."""

    row: dict[str, float | str]
    prediction: np.ndarray


def evaluate_cases(
    model: torch.nn.Module,
    cases: Sequence[PreprocessedCase],
    refs: Sequence[CaseRef],
    *,
    inference: SlidingWindow,
    patch_size: tuple[int, int, int],
    threshold: float,
    device: torch.device,
    amp: bool,
) -> Iterable[CaseEvaluation]:
    """Yield one :class:`CaseEvaluation` per case, in order; rows are keyed by case key.

    Each row holds ``case`` (the pseudonymous key), every metric of
    :data:`platform.metrics.METRIC_NAMES` on the full grid, ``seconds`` of inference,
    ``patches`` run, ``voxels`` scored and ``lesion_lost`` (the share of the lesion
    preprocessing took, counted as missed in the metrics).
    """
    for ref, case in zip(refs, cases, strict=True):
        started = time.perf_counter()
        probability = inference(model, case.image, patch_size=patch_size, device=device,
                                amp=amp, brain=case.brain.astype(bool))
        seconds = time.perf_counter() - started
        prediction = binarize(probability, threshold)
        original = load_case(ref)
        metrics = segmentation_metrics(case.paste(prediction), original.lesion,
                                       original.geometry.spacing, brain_mask(original.hu))
        row: dict[str, float | str] = {"case": ref.key, **metrics, "seconds": seconds}
        row["patches"] = float(inference.count(case.image.shape, patch_size,
                                               case.brain.astype(bool)))
        row["voxels"] = float(original.lesion.size)
        row["lesion_lost"] = case.lesion_loss.fraction
        logger.info("evaluated %s: dice %.3f in %.1f s", ref.key, metrics["dice"], seconds)
        yield CaseEvaluation(row=row, prediction=prediction)


PER_PATIENT_MEANS = {SECONDS_PER_PATIENT: "seconds", PATCHES_PER_PATIENT: "patches"}
"""Fold means of the per-patient costs (Table 2): mean name -> row column."""


def fold_means(rows: Sequence[dict[str, float | str]]) -> dict[str, float]:
    """Mean of each metric over a fold's patients (NaN-aware), and of the inference
    seconds and patches per patient."""
    means = {name: summarize([float(row[name]) for row in rows])[0] for name in METRIC_NAMES}
    for name, column in PER_PATIENT_MEANS.items():
        means[name] = summarize([float(row[column]) for row in rows])[0]
    return means

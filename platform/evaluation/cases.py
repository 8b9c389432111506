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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data_pipeline.cohort.cohort import Case, CaseRef, load_case
from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.preprocess.remove_skull import brain_mask
from platform.config.trial import TrialConfig
from platform.evaluation.lesion_metrics import LESION_METRIC_NAMES
from platform.evaluation.metrics import (
    METRIC_NAMES,
    PATCHES_PER_PATIENT,
    SECONDS_PER_PATIENT,
    segmentation_metrics,
    summarize,
)
from platform.inference import from_config
from platform.inference.sliding_window import SlidingWindow, binarize

__all__ = ["PER_PATIENT_MEANS", "SCORING_VERSION", "CaseEvaluation", "CaseScores", "PostProcess",
           "Scoring",
           "evaluate_cases", "fold_means", "score_prediction"]

SCORING_VERSION = 2
"""Part of every evaluation key (:mod:`platform.sweep.keys`): bump it when a metric, a
column of the per-patient rows or the grid they are taken on changes, so finished
evaluations are not reused with other numbers (2: voxel counts, lesion-wise metrics and
post-processing candidates in the rows)."""

CaseScores = Callable[[np.ndarray, np.ndarray, tuple[float, float, float]], dict[str, float]]
"""More scores of one case: ``(prediction, truth, spacing mm) -> {name: value}`` on the full
grid (``platform.postprocessing.choice.case_scores``: voxel counts, lesion-wise metrics,
post-processing candidates)."""
PostProcess = Callable[[np.ndarray, Sequence[float]], np.ndarray]
"""A post-processing applied to the full-grid prediction before it is scored."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseEvaluation:
    """One held-out patient: its metrics row and its thresholded prediction on the crop
    (what the network saw; the metrics were taken on the full grid)."""

    row: dict[str, float | str]
    prediction: np.ndarray


@dataclass(frozen=True)
class Scoring:
    """How a held-out case is predicted and scored: the trial's ``eval`` settings, its
    patch size and its precision (:meth:`of` reads them from a trial config)."""

    inference: SlidingWindow
    patch_size: tuple[int, int, int]
    threshold: float
    amp: bool

    @classmethod
    def of(cls, config: TrialConfig) -> Scoring:
        """The scoring a trial config asks for (``eval``, the patch size, ``train.amp``)."""
        return cls(inference=from_config.inference(config),
                   patch_size=from_config.patch_size(config),
                   threshold=config.eval.threshold, amp=config.train.amp is not False)


def evaluate_cases(
    model: torch.nn.Module,
    cases: Iterable[PreprocessedCase],
    refs: Sequence[CaseRef],
    scoring: Scoring,
    *,
    device: torch.device,
    extra_scores: CaseScores | None = None,
    postprocess: PostProcess | None = None,
) -> Iterable[CaseEvaluation]:
    """Yield one :class:`CaseEvaluation` per case, in order; rows are keyed by case key.

    Each row holds ``case`` (the pseudonymous key), every metric of
    :data:`platform.evaluation.metrics.METRIC_NAMES` on the full grid, ``seconds`` of inference,
    ``patches`` run, ``voxels`` scored and ``lesion_lost`` (the share of the lesion
    preprocessing took, counted as missed in the metrics), and what ``extra_scores``
    adds. ``postprocess`` (an external test's chosen post-processing) changes the
    full-grid prediction before scoring; the crop prediction returned is the raw one.
    """
    for ref, case in zip(refs, cases, strict=True):
        started = time.perf_counter()
        probability = scoring.inference(model, case.image, patch_size=scoring.patch_size,
                                        device=device, amp=scoring.amp,
                                        brain=case.brain.astype(bool))
        seconds = time.perf_counter() - started
        prediction = binarize(probability, scoring.threshold)
        patches = float(scoring.inference.count(case.image.shape, scoring.patch_size,
                                                case.brain.astype(bool)))
        original = load_case(ref)
        row = score_prediction(original, case.paste(prediction), seconds=seconds,
                               patches=patches, lesion_lost=case.lesion_loss.fraction,
                               extra_scores=extra_scores, postprocess=postprocess)
        yield CaseEvaluation(row=row, prediction=prediction)


def score_prediction(original: Case, full: np.ndarray, *, seconds: float, patches: float,
                     lesion_lost: float, extra_scores: CaseScores | None = None,
                     postprocess: PostProcess | None = None) -> dict[str, float | str]:
    """One case's row: the full-grid mask ``full`` scored against the untouched mask of
    ``original`` (the case as the cohort holds it), over the scan and its brain region.

    The one scoring every row of Table 1 goes through: our networks' crop predictions
    pasted back (:meth:`PreprocessedCase.paste`) and a baseline's masks written on the
    scan's grid (``lesion_lost`` 0: nothing was cropped away).

    Args:
        full: binary ``(Z, Y, X)`` mask on the scan's grid.
        seconds: inference seconds of the case (NaN: not timed per case).
        patches: the patches inference ran (NaN: not counted).
        lesion_lost: the share of the lesion preprocessing took (counted as missed).

    Raises:
        ValueError: ``full`` is not on the scan's grid (names the case).
    """
    if full.shape != original.lesion.shape:
        raise ValueError(f"case {original.key}: prediction of shape {full.shape} on a scan "
                         f"of shape {original.lesion.shape}; predict on the scan's own grid")
    spacing = original.geometry.spacing
    full = full if postprocess is None else postprocess(full, spacing)
    metrics = segmentation_metrics(full, original.lesion, spacing, brain_mask(original.hu))
    row: dict[str, float | str] = {"case": original.key, **metrics, "seconds": seconds}
    if extra_scores is not None:
        row.update(extra_scores(full, original.lesion, spacing))
    row["patches"] = patches
    row["voxels"] = float(original.lesion.size)
    row["lesion_lost"] = lesion_lost
    logger.info("evaluated %s: dice %.3f in %.1f s", original.key, metrics["dice"], seconds)
    return row


PER_PATIENT_MEANS = {SECONDS_PER_PATIENT: "seconds", PATCHES_PER_PATIENT: "patches"}
"""Fold means of the per-patient costs (Table 2): mean name -> row column."""


def fold_means(rows: Sequence[dict[str, float | str]]) -> dict[str, float]:
    """Mean of each metric over a fold's patients (NaN-aware), of the inference seconds
    and patches per patient, and of the lesion-wise metrics when the rows hold them."""
    lesion = [name for name in LESION_METRIC_NAMES if rows and name in rows[0]]
    means = {name: summarize([float(row[name]) for row in rows])[0]
             for name in (*METRIC_NAMES, *lesion)}
    for name, column in PER_PATIENT_MEANS.items():
        means[name] = summarize([float(row[column]) for row in rows])[0]
    return means

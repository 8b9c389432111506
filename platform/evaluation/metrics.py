"""Per-patient segmentation metrics: Dice, sensitivity, specificity, precision, HD95, AVD.

Dobshik et al. (2023, arXiv:2301.06793) report per patient the Dice similarity coefficient
on the mask thresholded at 0.5, sensitivity, specificity and precision (Table 1, as mean
+- sd); this module adds the 95th-percentile Hausdorff distance and the absolute volume
difference, which make failures easier to read. All counts come from a single pass of
boolean operations, so a 512 x 512 x 405 scan costs well under a second; HD95 looks only
at the surface voxels of the two masks (found inside each mask's bounding box).

Specificity is computed over the array it is given (in a trial: the whole scan on its
original grid, the paper's likely definition) and, as ``specificity_brain``, over a brain
region (in a trial: the default skull removal's brain of the original scan, the same for
every variant), where air cannot push it towards 1.

Conventions (one rule, chosen so that no empty mask can raise a score):

- A ratio whose denominator is 0 (0 / 0) is 1 when prediction and truth agree (both
  masks empty for Dice, sensitivity and precision; both full for specificity) and 0 when
  they do not. So with truth empty and a non-empty prediction, Dice = sensitivity =
  precision = 0 (a false alarm in a lesion-free scan is a failure, and a vacuous
  sensitivity of 1 would reward it); with a lesion and an empty prediction, Dice =
  sensitivity = precision = 0 (a vacuous precision of 1 would reward missing the lesion).
- HD95 is 0 when both masks are empty and NaN when exactly one is (a distance to no
  surface does not exist, as in MONAI); :func:`summarize` ignores NaN and the caller
  reports how many patients were left out.
- The absolute volume difference is always defined (0 when both are empty).

HD95 follows MONAI's ``HausdorffDistanceMetric(percentile=95)``: surfaces are the mask
voxels removed by one binary erosion (6-connectivity, voxels on the array border count as
surface), distances are Euclidean in mm between surface voxel centres, and the result is
the larger of the two directed 95th percentiles (linear interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "AVD",
    "DICE",
    "HD95",
    "METRIC_NAMES",
    "MODEL_SCORES",
    "PRECISION",
    "SENSITIVITY",
    "METRIC_LABELS",
    "PATCHES_PER_PATIENT",
    "SECONDS_PER_PATIENT",
    "SPECIFICITY",
    "SPECIFICITY_BRAIN",
    "TABLE1_METRICS",
    "as_mask",
    "check_spacing",
    "confusion_counts",
    "segmentation_metrics",
    "summarize",
    "surface_points",
]

DICE = "dice"
SENSITIVITY = "sensitivity"
SPECIFICITY = "specificity"
SPECIFICITY_BRAIN = "specificity_brain"
PRECISION = "precision"
HD95 = "hd95_mm"
AVD = "abs_volume_diff_ml"
METRIC_NAMES: tuple[str, ...] = (DICE, SENSITIVITY, SPECIFICITY, SPECIFICITY_BRAIN, PRECISION,
                                 HD95, AVD)
SECONDS_PER_PATIENT = "seconds_per_patient"
PATCHES_PER_PATIENT = "patches_per_patient"
TABLE1_METRICS: tuple[str, ...] = (DICE, SENSITIVITY, SPECIFICITY, SPECIFICITY_BRAIN, PRECISION)
MODEL_SCORES: tuple[str, ...] = (DICE, SENSITIVITY, SPECIFICITY, PRECISION)
"""The scores linked to a logged model (MLflow 3's Models tab ranks models by them): a fold
model's are its evaluation's, a fold ensemble's are prefixed with where they come from
(``cv_mean_dice``, ``external_test_dice``: :mod:`platform.postprocessing.ensemble_model`)."""
METRIC_LABELS: dict[str, str] = {
    SPECIFICITY: "specificity (whole scan)", SPECIFICITY_BRAIN: "specificity (brain)",
    SECONDS_PER_PATIENT: "seconds per patient", PATCHES_PER_PATIENT: "patches per patient"}
"""How tables name a metric whose plain name would be ambiguous."""

_MM3_PER_ML = 1000.0


def segmentation_metrics(
    pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
    brain: np.ndarray | None = None,
) -> dict[str, float]:
    """Compare a binary prediction with the reference mask of one patient.

    Args:
        pred: predicted mask ``(Z, Y, X)``, bool or integer (non-zero = lesion); threshold
            probabilities first (``platform.inference.sliding_window.binarize``).
        truth: reference mask of the same shape, bool or integer.
        spacing: voxel size ``(z, y, x)`` in mm (anisotropic allowed).
        brain: the region of :data:`SPECIFICITY_BRAIN` (the whole array when None).

    Returns:
        ``{name: value}`` for every name in :data:`METRIC_NAMES`; HD95 in mm, volume
        difference in mL. See the module docstring for empty masks.
    """
    pred_mask = as_mask(pred, "pred")
    truth_mask = as_mask(truth, "truth")
    if pred_mask.shape != truth_mask.shape or pred_mask.ndim != 3:
        raise ValueError(
            f"pred and truth must be 3D masks (Z, Y, X) of one shape, got {pred_mask.shape} "
            f"and {truth_mask.shape}"
        )
    voxel = check_spacing(spacing)
    n_pred = int(np.count_nonzero(pred_mask))
    n_truth = int(np.count_nonzero(truth_mask))
    tp = int(np.count_nonzero(np.logical_and(pred_mask, truth_mask)))
    fp, fn = n_pred - tp, n_truth - tp
    tn = pred_mask.size - tp - fp - fn
    agree = fp == 0 and fn == 0
    if brain is not None:
        brain = as_mask(brain, "brain")
        if brain.shape != pred_mask.shape:
            raise ValueError(f"brain must have the masks' shape {pred_mask.shape}, got "
                             f"{brain.shape}")
    region = pred_mask.size if brain is None else int(np.count_nonzero(brain))
    fp_region = fp if brain is None else int(np.count_nonzero(pred_mask & ~truth_mask & brain))
    fn_region = fn if brain is None else int(np.count_nonzero(truth_mask & ~pred_mask & brain))
    tp_region = tp if brain is None else int(np.count_nonzero(pred_mask & truth_mask & brain))
    tn_region = region - tp_region - fp_region - fn_region
    return {
        DICE: _ratio(2 * tp, 2 * tp + fp + fn, agree),
        SENSITIVITY: _ratio(tp, tp + fn, agree),
        SPECIFICITY: _ratio(tn, tn + fp, agree),
        SPECIFICITY_BRAIN: _ratio(tn_region, tn_region + fp_region, fp_region == 0),
        PRECISION: _ratio(tp, tp + fp, agree),
        HD95: _hd95(pred_mask, truth_mask, voxel, n_pred, n_truth),
        AVD: abs(n_pred - n_truth) * math.prod(voxel) / _MM3_PER_ML,
    }


def confusion_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Voxel counts ``tp``, ``fp``, ``fn``, ``tn`` of a binary prediction against the truth.

    The raw numbers behind every ratio above (and the columns of nnU-Net's
    ``summary.json``, :mod:`platform.evaluation.nnunet`).
    """
    pred_mask, truth_mask = as_mask(pred, "pred"), as_mask(truth, "truth")
    if pred_mask.shape != truth_mask.shape:
        raise ValueError(f"pred and truth must have one shape, got {pred_mask.shape} and "
                         f"{truth_mask.shape}")
    tp = int(np.count_nonzero(pred_mask & truth_mask))
    fp = int(np.count_nonzero(pred_mask)) - tp
    fn = int(np.count_nonzero(truth_mask)) - tp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": pred_mask.size - tp - fp - fn}


def summarize(values: Sequence[float]) -> tuple[float, float]:
    """Return ``(mean, sd)`` over the finite values, sd with ddof=1 (sample sd).

    The paper reports mean +- standard deviation; the sample sd (n - 1) is the usual
    reading. NaN (an undefined HD95) is left out; with fewer than two finite values the sd
    is NaN, and with none the mean is NaN too.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    mean = float(finite.mean()) if finite.size else math.nan
    sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return mean, sd


def _ratio(numerator: int, denominator: int, agree: bool) -> float:
    """``numerator / denominator``; for 0 / 0, 1 if the masks agree, else 0."""
    if denominator == 0:
        return 1.0 if agree else 0.0
    return numerator / denominator


def _hd95(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing: tuple[float, float, float],
    n_pred: int,
    n_truth: int,
) -> float:
    """Larger of the two directed 95th-percentile surface distances, in mm."""
    if n_pred == 0 and n_truth == 0:
        return 0.0
    if n_pred == 0 or n_truth == 0:
        return math.nan
    scale = np.asarray(spacing, dtype=np.float64)
    pred_points = surface_points(pred) * scale
    truth_points = surface_points(truth) * scale
    to_truth = cKDTree(truth_points).query(pred_points, k=1)[0]
    to_pred = cKDTree(pred_points).query(truth_points, k=1)[0]
    return float(max(np.percentile(to_truth, 95), np.percentile(to_pred, 95)))


def surface_points(mask: np.ndarray) -> np.ndarray:
    """Voxel indices ``(N, 3)`` of the surface of a non-empty mask.

    Works inside the mask's bounding box grown by one voxel (clipped to the array): the
    erosion there equals the erosion of the whole array, at a fraction of the cost.
    """
    lows, highs = [], []
    for axis in range(3):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        lows.append(max(int(present[0]) - 1, 0))
        highs.append(min(int(present[-1]) + 2, mask.shape[axis]))
    box = mask[tuple(slice(lo, hi) for lo, hi in zip(lows, highs, strict=True))]
    surface = box & ~ndimage.binary_erosion(box)
    return np.argwhere(surface).astype(np.float64) + np.asarray(lows, dtype=np.float64)


def as_mask(array: np.ndarray, name: str) -> np.ndarray:
    """Return a boolean view or copy of a bool/integer mask; reject probabilities."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(array).__name__}")
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"{name} must be a binary mask (bool or integer), got dtype {array.dtype}; "
            "threshold probabilities first with platform.inference.sliding_window.binarize"
        )
    return array != 0


def check_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    """Validate three positive voxel sizes in mm."""
    values = tuple(float(s) for s in spacing)
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be three positive sizes (z, y, x) in mm, got {spacing}")
    return values[0], values[1], values[2]

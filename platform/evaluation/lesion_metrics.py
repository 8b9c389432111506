"""Lesion-wise metrics beside the voxel ones: lesion F1, detection rate, count difference, NSD.

Why: Dice is dominated by the large infarcts; a clinician also asks whether every lesion
was found and whether the prediction invents lesions. These are the lesion-wise scores of
the ISLES challenges (de la Rosa et al., ISLES'22 and ISLES'24 evaluation code, which
uses ``cc3d`` with 26-connectivity) and the surface Dice (normalised surface distance) of
Nikolov et al. 2021 (doi:10.2196/26151), computed the way MONAI's ``compute_surface_dice``
does. The absolute volume difference in mL, ISLES' fourth score, is
:data:`platform.evaluation.metrics.AVD` already.

Definitions (lesions are the connected components of a mask, 26-connectivity):

- a reference lesion is *detected* (TP) when any of its voxels is predicted, else it is
  missed (FN); a predicted lesion that touches no reference voxel is a false alarm (FP);
- ``lesion_f1 = TP / (TP + (FP + FN) / 2)`` and ``lesion_detection_rate = TP / (TP + FN)``;
- ``lesion_count_diff = |predicted lesions - reference lesions|``;
- ``surface_dice``: the share of both surfaces (mask voxels removed by one binary
  erosion, as in :mod:`platform.evaluation.metrics`) that lies within ``tolerance_mm`` of the other
  surface: ``(|S_p within tol of S_t| + |S_t within tol of S_p|) / (|S_p| + |S_t|)``.

Empty masks follow :mod:`platform.evaluation.metrics`' rule (no empty mask can raise a score): when
both masks are empty every score is perfect (1, count difference 0, as ISLES' empty
value); when only one is empty, F1, detection rate and surface Dice are 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cc3d
import numpy as np
from scipy.spatial import cKDTree

from platform.evaluation.metrics import as_mask, check_spacing, surface_points

__all__ = [
    "CONNECTIVITY",
    "LESION_COUNT_DIFF",
    "LESION_DETECTION",
    "LESION_F1",
    "LESION_METRIC_NAMES",
    "SURFACE_DICE",
    "LesionCounts",
    "lesion_counts",
    "lesion_metrics",
    "surface_dice",
]

LESION_F1 = "lesion_f1"
LESION_DETECTION = "lesion_detection_rate"
LESION_COUNT_DIFF = "lesion_count_diff"
SURFACE_DICE = "surface_dice"
LESION_METRIC_NAMES: tuple[str, ...] = (LESION_F1, LESION_DETECTION, LESION_COUNT_DIFF,
                                        SURFACE_DICE)
CONNECTIVITY: Final = 26
"""Voxels that share a face, an edge or a corner belong to one lesion (ISLES' choice)."""


@dataclass(frozen=True)
class LesionCounts:
    """Lesions of one patient: detected, missed, false alarms, and how many each mask has."""

    tp: int
    fn: int
    fp: int
    n_pred: int
    n_truth: int


def lesion_counts(pred: np.ndarray, truth: np.ndarray) -> LesionCounts:
    """Count detected, missed and false-alarm lesions (see the module docstring)."""
    pred, truth = _masks(pred, truth)
    truth_labels, n_truth = cc3d.connected_components(truth, connectivity=CONNECTIVITY,
                                                      return_N=True)
    pred_labels, n_pred = cc3d.connected_components(pred, connectivity=CONNECTIVITY,
                                                    return_N=True)
    overlap = pred & truth
    detected = np.unique(truth_labels[overlap]).size
    touching = np.unique(pred_labels[overlap]).size
    return LesionCounts(tp=int(detected), fn=int(n_truth - detected), fp=int(n_pred - touching),
                        n_pred=int(n_pred), n_truth=int(n_truth))


def surface_dice(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float],
                 tolerance_mm: float) -> float:
    """Surface Dice at ``tolerance_mm`` (Nikolov et al. 2021; MONAI ``compute_surface_dice``).

    Args:
        pred, truth: binary masks ``(Z, Y, X)``.
        spacing: voxel size ``(z, y, x)`` in mm.
        tolerance_mm: how far apart two surfaces may lie and still count as agreeing.
    """
    if tolerance_mm < 0:
        raise ValueError(f"tolerance_mm must be >= 0, got {tolerance_mm}")
    pred, truth = _masks(pred, truth)
    scale = np.asarray(check_spacing(spacing), dtype=np.float64)
    has_pred, has_truth = bool(pred.any()), bool(truth.any())
    if not (has_pred and has_truth):
        return 1.0 if has_pred == has_truth else 0.0
    pred_points, truth_points = surface_points(pred) * scale, surface_points(truth) * scale
    to_truth = cKDTree(truth_points).query(pred_points, k=1)[0]
    to_pred = cKDTree(pred_points).query(truth_points, k=1)[0]
    within = np.count_nonzero(to_truth <= tolerance_mm) + np.count_nonzero(to_pred <= tolerance_mm)
    return float(within / (len(pred_points) + len(truth_points)))


def lesion_metrics(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float], *,
                   tolerance_mm: float) -> dict[str, float]:
    """Every lesion-wise metric of :data:`LESION_METRIC_NAMES` for one patient."""
    counts = lesion_counts(pred, truth)
    both_empty = counts.n_pred == 0 and counts.n_truth == 0
    errors = counts.fp + counts.fn
    return {
        LESION_F1: 1.0 if both_empty else counts.tp / (counts.tp + errors / 2),
        LESION_DETECTION: (counts.tp / counts.n_truth if counts.n_truth
                           else float(counts.n_pred == 0)),
        LESION_COUNT_DIFF: float(abs(counts.n_pred - counts.n_truth)),
        SURFACE_DICE: surface_dice(pred, truth, spacing, tolerance_mm),
    }


def _masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = as_mask(pred, "pred"), as_mask(truth, "truth")
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"pred and truth must be 3D masks (Z, Y, X) of one shape, got "
                         f"{pred.shape} and {truth.shape}")
    return pred, truth

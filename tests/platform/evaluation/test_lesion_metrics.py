"""Lesion-wise metrics (``platform/evaluation/lesion_metrics.py``, issue 14) against hand
computations.

The hand-labelled example lies in one slice of a three-slice volume, so every lesion
voxel is a surface voxel and each distance is read off the grid; MONAI's
``compute_surface_dice`` is the oracle on a 3D case with anisotropic voxels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from platform.evaluation.lesion_metrics import (
    LESION_COUNT_DIFF,
    LESION_DETECTION,
    LESION_F1,
    SURFACE_DICE,
    lesion_counts,
    lesion_metrics,
    surface_dice,
)

SPACING = (2.0, 1.0, 1.0)


def _slab(*boxes: tuple[slice, slice]) -> np.ndarray:
    mask = np.zeros((3, 12, 12), np.uint8)
    for rows, cols in boxes:
        mask[1, rows, cols] = 1
    return mask


def test_lesion_wise_scores_match_a_hand_count() -> None:
    # Reference: A (3x3), B (2x2) and C (one voxel); prediction: A shifted by one voxel
    # (detects A), and D (two voxels) where no lesion is. B and C are missed.
    truth = _slab((slice(1, 4), slice(1, 4)), (slice(8, 10), slice(8, 10)),
                  (slice(1, 2), slice(10, 11)))
    pred = _slab((slice(2, 5), slice(2, 5)), (slice(6, 7), slice(0, 2)))
    counts = lesion_counts(pred, truth)
    assert (counts.tp, counts.fn, counts.fp, counts.n_pred, counts.n_truth) == (1, 2, 1, 2, 3)
    scores = lesion_metrics(pred, truth, SPACING, tolerance_mm=1.0)
    assert scores[LESION_F1] == pytest.approx(1 / (1 + (1 + 2) / 2))  # 0.4
    assert scores[LESION_DETECTION] == pytest.approx(1 / 3)
    assert scores[LESION_COUNT_DIFF] == 1.0


def test_diagonal_neighbours_are_one_lesion() -> None:
    truth = _slab((slice(2, 3), slice(2, 3)), (slice(3, 4), slice(3, 4)))  # corner to corner
    assert lesion_counts(truth, truth).n_truth == 1


@pytest.mark.parametrize(("tolerance", "expected"), [(1.0, (4 + 4) / (6 + 4)),
                                                     (0.5, (2 + 2) / (6 + 4)),
                                                     (2.0, 1.0)])
def test_surface_dice_matches_a_hand_computation(tolerance: float, expected: float) -> None:
    # Reference columns 2-3, prediction columns 3-5 (rows 2-3): distances are whole mm.
    truth = _slab((slice(2, 4), slice(2, 4)))
    pred = _slab((slice(2, 4), slice(3, 6)))
    assert surface_dice(pred, truth, SPACING, tolerance) == pytest.approx(expected)
    assert lesion_metrics(pred, truth, SPACING, tolerance_mm=tolerance)[SURFACE_DICE] == \
        pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning")  # MONAI's own call
def test_surface_dice_equals_monai_on_anisotropic_blobs() -> None:
    surface = pytest.importorskip("monai.metrics")
    grid = np.mgrid[:14, :20, :18]
    truth = ((grid[0] - 7) ** 2 / 16 + (grid[1] - 9) ** 2 / 30 + (grid[2] - 8) ** 2 / 20) < 1
    pred = ((grid[0] - 6) ** 2 / 12 + (grid[1] - 10) ** 2 / 36 + (grid[2] - 9) ** 2 / 16) < 1
    spacing = (2.0, 0.7, 0.9)
    for tolerance in (0.5, 1.0, 2.5):
        theirs = surface.compute_surface_dice(
            torch.from_numpy(pred)[None, None].float(), torch.from_numpy(truth)[None, None].float(),
            class_thresholds=[tolerance], include_background=True, spacing=spacing)
        ours = surface_dice(pred.astype(np.uint8), truth.astype(np.uint8), spacing, tolerance)
        assert ours == pytest.approx(float(theirs[0, 0]), abs=1e-6)


def test_empty_masks_never_raise_a_score() -> None:
    empty, lesion = _slab(), _slab((slice(2, 4), slice(2, 4)))
    both = lesion_metrics(empty, empty, SPACING, tolerance_mm=1.0)
    assert both == {LESION_F1: 1.0, LESION_DETECTION: 1.0, LESION_COUNT_DIFF: 0.0,
                    SURFACE_DICE: 1.0}
    missed = lesion_metrics(empty, lesion, SPACING, tolerance_mm=1.0)
    assert missed == {LESION_F1: 0.0, LESION_DETECTION: 0.0, LESION_COUNT_DIFF: 1.0,
                      SURFACE_DICE: 0.0}
    alarm = lesion_metrics(lesion, empty, SPACING, tolerance_mm=1.0)
    assert alarm == {LESION_F1: 0.0, LESION_DETECTION: 0.0, LESION_COUNT_DIFF: 1.0,
                     SURFACE_DICE: 0.0}
    with pytest.raises(TypeError, match="binary mask"):
        lesion_metrics(lesion.astype(np.float32), lesion, SPACING, tolerance_mm=1.0)

"""Tests for platform/evaluation/metrics.py: hand-computed values, MONAI cross-checks, empty
masks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from platform.evaluation.metrics import (
    AVD,
    DICE,
    HD95,
    METRIC_NAMES,
    PRECISION,
    SENSITIVITY,
    SPECIFICITY,
    SPECIFICITY_BRAIN,
    TABLE1_METRICS,
    segmentation_metrics,
    summarize,
)

UNIT = (1.0, 1.0, 1.0)


def blobs(shape: tuple[int, int, int], seed: int, density: float = 0.002) -> np.ndarray:
    """Random smooth blobs: dilated sparse seeds, a few irregular lesions."""
    rng = np.random.default_rng(seed)
    seeds = rng.random(shape) < density
    return ndimage.binary_dilation(seeds, iterations=int(rng.integers(1, 4)))


def test_names_are_the_documented_constants() -> None:
    assert METRIC_NAMES == (
        "dice", "sensitivity", "specificity", "specificity_brain", "precision", "hd95_mm",
        "abs_volume_diff_ml",
    )  # fmt: skip
    assert TABLE1_METRICS == (DICE, SENSITIVITY, SPECIFICITY, SPECIFICITY_BRAIN, PRECISION)


def test_specificity_inside_the_brain_counts_only_its_voxels() -> None:
    truth = np.zeros((4, 6, 6), dtype=bool)
    truth[1:3, 2:4, 2:4] = True
    pred = truth.copy()
    pred[0, 0, 0] = True  # a false positive in the air, outside the brain
    pred[1, 1, 1] = True  # and one inside it
    brain = np.zeros_like(truth)
    brain[1:3, 1:5, 1:5] = True  # 32 voxels, 8 of them lesion
    metrics = segmentation_metrics(pred, truth, (1.0, 1.0, 1.0), brain)
    assert metrics[SPECIFICITY] == pytest.approx((144 - 8 - 2) / (144 - 8))
    assert metrics[SPECIFICITY_BRAIN] == pytest.approx((32 - 8 - 1) / (32 - 8))
    assert segmentation_metrics(pred, truth, (1.0, 1.0, 1.0))[SPECIFICITY_BRAIN] == (
        metrics[SPECIFICITY])


def test_counts_match_a_hand_computation() -> None:
    truth = np.zeros((4, 5, 6), dtype=np.uint8)
    pred = np.zeros((4, 5, 6), dtype=bool)
    truth[1, 1:3, 1:4] = 1  # 6 voxels
    pred[1, 1:3, 2:5] = True  # 6 voxels, 4 of them on the truth
    spacing = (2.0, 0.5, 0.5)  # 0.5 mm3 per voxel
    m = segmentation_metrics(pred, truth, spacing)
    tp, fp, fn, tn = 4, 2, 2, 120 - 8
    assert m[DICE] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m[SENSITIVITY] == pytest.approx(tp / (tp + fn))
    assert m[SPECIFICITY] == pytest.approx(tn / (tn + fp))
    assert m[PRECISION] == pytest.approx(tp / (tp + fp))
    assert m[AVD] == 0.0
    # Both surfaces are the whole slabs; the farthest voxels are one x-step (0.5 mm) apart.
    assert m[HD95] == pytest.approx(0.5)
    assert set(m) == set(METRIC_NAMES)


def test_volume_difference_in_millilitres() -> None:
    truth = np.zeros((10, 10, 10), dtype=np.uint8)
    pred = truth.copy()
    truth[:5] = 1  # 500 voxels
    pred[:2] = 1  # 200 voxels
    m = segmentation_metrics(pred, truth, (1.0, 0.5, 0.4))  # 0.2 mm3 per voxel
    assert m[AVD] == pytest.approx(300 * 0.2 / 1000)


def test_hd95_of_two_shifted_cubes_with_anisotropic_spacing() -> None:
    truth = np.zeros((20, 20, 20), dtype=bool)
    pred = np.zeros_like(truth)
    truth[5:10, 5:10, 5:10] = True
    pred[5:10, 5:10, 8:13] = True  # shifted by 3 voxels along x
    m = segmentation_metrics(pred, truth, (1.0, 1.0, 2.0))
    assert m[HD95] == pytest.approx(6.0)


def monai_metrics(pred: np.ndarray, truth: np.ndarray, spacing: tuple) -> dict[str, float]:
    """The same metrics from MONAI's DiceMetric, ConfusionMatrixMetric, HausdorffDistanceMetric."""
    from monai.metrics import ConfusionMatrixMetric, DiceMetric, HausdorffDistanceMetric

    y_pred = torch.from_numpy(pred)[None, None].float()
    y = torch.from_numpy(truth)[None, None].float()
    dice = DiceMetric(include_background=True, reduction="none")(y_pred, y)
    confusion = ConfusionMatrixMetric(
        include_background=True,
        metric_name=("sensitivity", "specificity", "precision"),
        reduction="none",
    )
    confusion(y_pred, y)
    sensitivity, specificity, precision = (float(t) for t in confusion.aggregate())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # MONAI's own deprecation inside HD
        hd = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
        hd95 = float(hd(y_pred, y, spacing=spacing))
    return {
        DICE: float(dice),
        SENSITIVITY: sensitivity,
        SPECIFICITY: specificity,
        PRECISION: precision,
        HD95: hd95,
    }


def assert_matches_monai(pred: np.ndarray, truth: np.ndarray, spacing: tuple) -> dict[str, float]:
    assert truth.any() and pred.any()
    ours = segmentation_metrics(pred.astype(np.uint8), truth, spacing)
    reference = monai_metrics(pred, truth, spacing)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, rel=1e-5), name
    return ours


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.45, 0.6)])
def test_agrees_with_monai_on_random_blobs(seed: int, spacing: tuple[float, float, float]) -> None:
    shape = (24, 32, 28)
    truth = blobs(shape, seed)
    pred = blobs(shape, seed + 100) | (truth & (np.random.default_rng(seed).random(shape) < 0.7))
    ours = assert_matches_monai(pred, truth, spacing)
    assert 0 < ours[DICE] < 1 and ours[HD95] > 0


def test_agrees_with_monai_for_masks_on_the_array_border() -> None:
    # Voxels on the array faces count as surface (erosion with a zero border), as in MONAI.
    shape = (16, 20, 18)
    truth = blobs(shape, 3, density=0.004)
    truth[:, :5, :4] = True
    pred = blobs(shape, 4, density=0.004)
    pred[:3, :, -2:] = True
    assert_matches_monai(pred, truth, (1.5, 0.8, 0.8))


def test_both_empty_is_perfect_agreement() -> None:
    empty = np.zeros((6, 6, 6), dtype=np.uint8)
    m = segmentation_metrics(empty, empty, UNIT)
    assert m == {DICE: 1.0, SENSITIVITY: 1.0, SPECIFICITY: 1.0, SPECIFICITY_BRAIN: 1.0,
                 PRECISION: 1.0, HD95: 0.0, AVD: 0.0}


def test_false_alarm_on_a_lesion_free_scan_scores_zero() -> None:
    truth = np.zeros((6, 6, 6), dtype=np.uint8)
    pred = truth.copy()
    pred[2:4, 2:4, 2:4] = 1
    m = segmentation_metrics(pred, truth, UNIT)
    assert (m[DICE], m[SENSITIVITY], m[PRECISION]) == (0.0, 0.0, 0.0)
    assert m[SPECIFICITY] == pytest.approx((216 - 8) / 216)
    assert math.isnan(m[HD95]) and m[AVD] == pytest.approx(8 / 1000)


def test_missed_lesion_scores_zero() -> None:
    truth = np.zeros((6, 6, 6), dtype=np.uint8)
    truth[1:3, 1:3, 1:3] = 1
    m = segmentation_metrics(np.zeros_like(truth), truth, UNIT)
    assert (m[DICE], m[SENSITIVITY], m[PRECISION], m[SPECIFICITY]) == (0.0, 0.0, 0.0, 1.0)
    assert math.isnan(m[HD95])


def test_full_truth_specificity_follows_the_same_rule() -> None:
    full = np.ones((4, 4, 4), dtype=np.uint8)
    assert segmentation_metrics(full, full, UNIT)[SPECIFICITY] == 1.0
    partial = full.copy()
    partial[0] = 0
    assert segmentation_metrics(partial, full, UNIT)[SPECIFICITY] == 0.0


@pytest.mark.parametrize(
    ("pred", "truth", "spacing", "error", "match"),
    [
        (np.zeros((4, 4, 4), np.float32), np.zeros((4, 4, 4), bool), UNIT, TypeError, "binarize"),
        (np.zeros((4, 4, 4), bool), np.zeros((4, 4, 5), bool), UNIT, ValueError, "one shape"),
        (np.zeros((4, 4), bool), np.zeros((4, 4), bool), UNIT, ValueError, "3D masks"),
        (
            np.zeros((4, 4, 4), bool),
            np.zeros((4, 4, 4), bool),
            (1.0, 0.0, 1.0),
            ValueError,
            "spacing",
        ),
        ([[[0]]], np.zeros((1, 1, 1), bool), UNIT, TypeError, "NumPy array"),
    ],
)
def test_bad_inputs_raise_clear_errors(pred, truth, spacing, error, match) -> None:
    with pytest.raises(error, match=match):
        segmentation_metrics(pred, truth, spacing)


def test_summarize_uses_sample_sd_and_skips_nan() -> None:
    mean, sd = summarize([0.5, 0.7, math.nan, 0.6])
    assert mean == pytest.approx(0.6)
    assert sd == pytest.approx(0.1)  # ddof=1: sqrt((0.01 + 0.01 + 0) / 2)
    assert math.isnan(summarize([0.4])[1])
    assert all(math.isnan(v) for v in summarize([]))

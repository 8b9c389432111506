"""Tests of platform/evaluation/cases.py: every variant scored on the scan's original grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from data_pipeline.cache import PREPROCESSED_DIR, PreprocessedCache
from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.preprocess import FINAL_STEPS, NO_PREPROCESSING_STEPS
from data_pipeline.preprocess.remove_skull import brain_mask
from platform.evaluation.cases import Scoring, evaluate_cases, fold_means, score_prediction
from platform.evaluation.metrics import METRIC_NAMES
from platform.inference.sliding_window import INFERENCE


@pytest.fixture(scope="module")
def cohort(synthetic_cohort: Callable[..., Path]) -> Path:
    return synthetic_cohort(2, (40, 48, 48), 1)


def _everywhere_lesion() -> torch.nn.Module:
    """A network that calls every voxel lesion: what it is scored on shows in the counts."""
    net = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.fill_(20.0)
    return net


def _rows(cohort: Path, steps, tmp_path: Path) -> list[dict]:
    refs = load_cohort(cohort)
    cache = PreprocessedCache(tmp_path / PREPROCESSED_DIR)
    cases = [cache.get(ref, steps) for ref in refs]
    sliding = INFERENCE.create(INFERENCE.spec("sliding_window", {"skip_outside_brain": False}))
    return [e.row for e in evaluate_cases(
        _everywhere_lesion(), cases, refs,
        Scoring(inference=sliding, patch_size=(16, 16, 16), threshold=0.5, amp=False),
        device=torch.device("cpu"))]


def test_cropped_and_uncropped_variants_are_scored_over_the_same_voxels(
    cohort: Path, tmp_path: Path
) -> None:
    cropped, whole = _rows(cohort, FINAL_STEPS, tmp_path), _rows(cohort, NO_PREPROCESSING_STEPS,
                                                                 tmp_path)
    for ref, crop_row, whole_row in zip(load_cohort(cohort), cropped, whole, strict=True):
        original = load_case(ref)
        lesion = original.lesion.astype(bool)
        assert crop_row["voxels"] == whole_row["voxels"] == lesion.size
        # Everywhere-lesion on the crop: every voxel of the crop is a positive on the full grid.
        cache = PreprocessedCache(tmp_path / PREPROCESSED_DIR)
        case = cache.get(ref, FINAL_STEPS)
        predicted = case.paste(np.ones(case.image.shape, np.uint8)).astype(bool)
        tp = int(np.count_nonzero(predicted & lesion))
        assert crop_row["dice"] == pytest.approx(2 * tp / (predicted.sum() + lesion.sum()))
        assert crop_row["sensitivity"] == pytest.approx(tp / lesion.sum())
        negatives = lesion.size - lesion.sum()
        assert crop_row["specificity"] == pytest.approx(
            (negatives - (predicted & ~lesion).sum()) / negatives)
        brain = brain_mask(original.hu)
        assert crop_row["specificity_brain"] == pytest.approx(
            ((brain & ~lesion).sum() - (predicted & ~lesion & brain).sum())
            / (brain & ~lesion).sum())
        assert whole_row["specificity"] == 0.0  # the whole scan called lesion
        assert crop_row["lesion_lost"] == case.lesion_loss.fraction


def test_fold_means_are_nan_aware_means_of_every_metric() -> None:
    rows = [{"case": "a", **dict.fromkeys(METRIC_NAMES, 0.5), "seconds": 1.0, "patches": 4.0},
            {"case": "b", **dict.fromkeys(METRIC_NAMES, 1.0), "seconds": 3.0, "patches": 8.0,
             "hd95_mm": np.nan}]
    means = fold_means(rows)
    assert means["dice"] == 0.75 and means["seconds_per_patient"] == 2.0 and means["hd95_mm"] == 0.5
    assert means["patches_per_patient"] == 6.0


def test_a_full_grid_mask_is_scored_like_a_pasted_crop(cohort: Path) -> None:
    """score_prediction (issue 24): a baseline's mask on the scan's grid gets the row our
    rows get; a mask of another shape is refused by case."""
    original = load_case(load_cohort(cohort)[0])
    row = score_prediction(original, original.lesion.copy(), seconds=1.5, patches=float("nan"),
                           lesion_lost=0.0)
    assert row["case"] == original.key and row["dice"] == pytest.approx(1.0)
    assert set(METRIC_NAMES) <= set(row) and row["voxels"] == original.lesion.size
    with pytest.raises(ValueError, match=f"case {original.key}: prediction of shape"):
        score_prediction(original, original.lesion[1:], seconds=0.0, patches=0.0,
                         lesion_lost=0.0)

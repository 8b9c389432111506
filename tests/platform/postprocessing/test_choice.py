"""Post-processing is chosen on cross-validation predictions only when it raises mean Dice."""

from __future__ import annotations

import numpy as np
import pytest

from platform.postprocessing.choice import candidate_column, candidate_dice, choose, chosen_spec
from platform.postprocessing.rules import POSTPROCESSING

SPACING = (1.0, 1.0, 1.0)
CANDIDATES = (POSTPROCESSING.spec("keep_largest_component"),
              POSTPROCESSING.spec("remove_small_components", {"min_volume_ml": 0.005}))


def _row(key: str, pred: np.ndarray, truth: np.ndarray) -> dict:
    inter = int((pred & truth).sum())
    dice = 2 * inter / (int(pred.sum()) + int(truth.sum()))
    return {"case": key, "dice": dice, **candidate_dice(pred, truth, SPACING, CANDIDATES)}


def _case(extra_speck: bool, second_lesion: bool) -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((8, 16, 16), np.uint8)
    truth[2:6, 2:8, 2:8] = 1  # 144 voxels
    if second_lesion:
        truth[2:5, 11:14, 11:14] = 1  # 27 voxels
    pred = truth.copy()
    pred[2:6, 2:8, 7] = 0  # misses a face of the first lesion
    if extra_speck:
        pred[7, 0, 15] = 1  # a one-voxel false alarm
    return pred, truth


def test_candidate_dice_is_the_dice_after_the_candidate() -> None:
    pred, truth = _case(extra_speck=True, second_lesion=False)
    scores = candidate_dice(pred, truth, SPACING, CANDIDATES)
    clean = 2 * 120 / (120 + 144)  # the speck removed by both candidates
    assert scores == {candidate_column(0): pytest.approx(clean),
                      candidate_column(1): pytest.approx(clean)}


def test_chosen_when_it_raises_mean_dice() -> None:
    rows = [_row(f"c{i}", *_case(extra_speck=True, second_lesion=False)) for i in range(3)]
    choice = choose("final", rows, CANDIDATES)
    assert choice.candidate_dice[str(CANDIDATES[0])] > choice.baseline_dice
    assert choice.chosen == CANDIDATES[0]  # ties go to the first listed
    assert "keep_largest_component chosen" in choice.note()
    assert chosen_spec({"final": choice.to_json()}, "final") == CANDIDATES[0]


def test_not_chosen_when_no_candidate_raises_mean_dice() -> None:
    # Two real lesions, no speck: keeping the largest drops the second lesion and the
    # small-component rule removes nothing: neither beats no post-processing.
    rows = [_row(f"c{i}", *_case(extra_speck=False, second_lesion=True)) for i in range(3)]
    choice = choose("final", rows, CANDIDATES)
    assert choice.candidate_dice[str(CANDIDATES[0])] < choice.baseline_dice
    assert choice.candidate_dice[str(CANDIDATES[1])] == pytest.approx(choice.baseline_dice)
    assert choice.chosen is None and "no post-processing chosen" in choice.note()
    assert choice.to_json()["chosen"] is None and chosen_spec({"final": choice.to_json()},
                                                              "final") is None


def test_rows_without_a_candidate_column_are_refused() -> None:
    with pytest.raises(ValueError, match="have no dice_postprocessed_0"):
        choose("final", [{"case": "c0", "dice": 0.5}], CANDIDATES[:1])

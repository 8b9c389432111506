"""Tests for models/losses/bce_dice.py: BCE + Dice, its class-weighted form, by hand."""

from __future__ import annotations

import pytest
import torch

import models
from models.losses import class_weights
from tests.models.losses.test_base import LOGITS, TARGET, _bce, _dice_term, _tensors


def test_bce_dice_equals_hand_computation() -> None:
    logits, target = _tensors()
    bce = sum(_bce(z, y) for z, y in zip(LOGITS, TARGET, strict=True)) / len(LOGITS)
    expected = bce + _dice_term(LOGITS, TARGET)
    loss = models.build_loss("bce_dice")(logits, target)
    assert loss.dtype == torch.float32
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_weighted_bce_weights_lesion_by_n0_over_n() -> None:
    n0, n1 = 90, 10
    assert class_weights((n0, n1), "x") == (0.1, 0.9)
    logits, target = _tensors()
    weights = [(n0 * y + n1 * (1 - y)) / (n0 + n1) for y in TARGET]
    bce = sum(w * _bce(z, y) for w, z, y in zip(weights, LOGITS, TARGET, strict=True)) / 8
    loss = models.build_loss("weighted_bce_dice", class_counts=(n0, n1))(logits, target)
    assert float(loss) == pytest.approx(bce + _dice_term(LOGITS, TARGET), rel=1e-6)


def test_weighted_loss_without_counts_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"needs class_counts=\(n0, n1\).*got None"):
        models.build_loss("weighted_bce_dice")
    with pytest.raises(ValueError, match=r"n0=-1"):
        models.build_loss("weighted_bce_dice", class_counts=(-1, 5))
    with pytest.raises(ValueError, match=r"positive sum"):
        models.build_loss("weighted_bce_dice", class_counts=(0, 0))


@pytest.mark.parametrize("name", ["bce_dice", "dice", "focal"])
def test_unweighted_losses_ignore_class_counts(name: str) -> None:
    logits, target = _tensors()
    with_counts = models.build_loss(name, class_counts=(90, 10))(logits, target)
    torch.testing.assert_close(with_counts, models.build_loss(name)(logits, target))

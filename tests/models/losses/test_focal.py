"""Tests for models/losses/focal.py: the focal loss by hand, its parameters checked."""

from __future__ import annotations

import pytest

import models
from tests.models.losses.test_base import LOGITS, TARGET, _bce, _sigmoid, _tensors


def test_focal_equals_hand_computation() -> None:
    logits, target = _tensors()
    gamma, alpha = 2.0, 0.25
    terms = []
    for z, y in zip(LOGITS, TARGET, strict=True):
        p_true = _sigmoid(z) if y else 1 - _sigmoid(z)
        a = alpha if y else 1 - alpha
        terms.append(a * (1 - p_true) ** gamma * _bce(z, y))
    loss = models.build_loss("focal", gamma=gamma, alpha=alpha)(logits, target)
    assert float(loss) == pytest.approx(sum(terms) / 8, rel=1e-6)
    plain = models.build_loss("focal", gamma=0.0, alpha=None)(logits, target)
    expected_bce = sum(_bce(z, y) for z, y in zip(LOGITS, TARGET, strict=True)) / 8
    assert float(plain) == pytest.approx(expected_bce, rel=1e-6)


def test_focal_rejects_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha: input should be less than or equal to 1"):
        models.build_loss("focal", alpha=1.5)

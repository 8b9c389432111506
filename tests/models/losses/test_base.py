"""Tests for models/losses/: hand computations, MONAI's DiceLoss, stability under autocast."""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import DiceLoss as MonaiDiceLoss

import models
from models.losses import class_weights

LOGITS = [0.0, 2.0, -1.0, 3.0, -2.0, 0.5, 1.0, -3.0]
TARGET = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
EPS = 1e-5


def _tensors(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (batch, 1, 1, 2, 8 // (2 * batch))
    return torch.tensor(LOGITS).view(shape), torch.tensor(TARGET).view(shape)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _bce(z: float, y: float) -> float:
    p = _sigmoid(z)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def _dice_term(zs: list[float], ys: list[float]) -> float:
    ps = [_sigmoid(z) for z in zs]
    overlap = sum(p * y for p, y in zip(ps, ys, strict=True))
    denominator = sum(p * p for p in ps) + sum(y * y for y in ys)
    return 1 - (2 * overlap + EPS) / (denominator + EPS)


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


def test_dice_over_the_batch_or_per_sample() -> None:
    logits, target = _tensors(batch=2)
    batch = models.build_loss("dice")(logits, target)
    assert float(batch) == pytest.approx(_dice_term(LOGITS, TARGET), rel=1e-6)
    per_sample = models.build_loss("dice", batch_dice=False)(logits, target)
    halves = [_dice_term(LOGITS[:4], TARGET[:4]), _dice_term(LOGITS[4:], TARGET[4:])]
    assert float(per_sample) == pytest.approx(sum(halves) / 2, rel=1e-6)
    assert float(per_sample) != pytest.approx(float(batch), rel=1e-3)


@pytest.mark.parametrize("batch_dice", [True, False])
def test_dice_matches_monai_squared_dice(batch_dice: bool) -> None:
    logits = torch.randn(2, 1, 6, 5, 4)
    target = (torch.rand_like(logits) > 0.7).float()
    theirs = MonaiDiceLoss(
        sigmoid=True, squared_pred=True, smooth_nr=EPS, smooth_dr=EPS, batch=batch_dice
    )
    ours = models.build_loss("dice", batch_dice=batch_dice, eps=EPS)
    torch.testing.assert_close(ours(logits, target), theirs(logits, target))


def test_empty_patch_predicted_empty_costs_nothing() -> None:
    logits = torch.full((2, 1, 4, 4, 4), -30.0)
    loss = models.build_loss("bce_dice")(logits, torch.zeros_like(logits))
    assert float(loss) == pytest.approx(0.0, abs=1e-5)


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


@pytest.mark.parametrize("name", ["bce_dice", "weighted_bce_dice", "dice", "focal"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_extreme_low_precision_logits_stay_finite(name: str, dtype: torch.dtype) -> None:
    logits = torch.tensor([-60000.0, -100.0, 0.0, 100.0, 60000.0, 20.0]).view(1, 1, 1, 2, 3)
    target = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).view(1, 1, 1, 2, 3)
    logits = logits.to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = models.build_loss(name, class_counts=(5, 1))(logits, target)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()


def test_loss_under_autocast_equals_float32_loss() -> None:
    logits = torch.randn(2, 1, 4, 4, 4).to(torch.bfloat16)
    target = (torch.rand(2, 1, 4, 4, 4) > 0.5).float()
    loss = models.build_loss("bce_dice")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = loss(logits, target)
    torch.testing.assert_close(inside, loss(logits.float(), target))


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


def test_shape_mismatch_is_explained() -> None:
    with pytest.raises(ValueError, match=r"logits \(1, 1, 2, 2, 2\) and target \(1, 2, 2, 2\)"):
        models.build_loss("dice")(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 2, 2, 2))


def test_focal_rejects_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha: input should be less than or equal to 1"):
        models.build_loss("focal", alpha=1.5)

"""Tests for models/losses/base.py: the soft Dice term (hand computations, MONAI's DiceLoss) and
every loss computed in float32 outside autocast, shapes checked.

The hand-computation helpers here are shared by ``test_bce_dice.py`` and ``test_focal.py``.
"""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import DiceLoss as MonaiDiceLoss

import models

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


def test_shape_mismatch_is_explained() -> None:
    with pytest.raises(ValueError, match=r"logits \(1, 1, 2, 2, 2\) and target \(1, 2, 2, 2\)"):
        models.build_loss("dice")(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 2, 2, 2))

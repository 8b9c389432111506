"""BCE + soft Dice, plain and voxel-weighted: the paper's training losses, plus Dice alone.

Dobshik et al. (2023, section 2.4) train with the sum of binary cross-entropy and the
soft Dice loss, and in the final model weight the BCE per voxel by

    w_i = (N0 * y_i + N1 * (1 - y_i)) / N,   N = N0 + N1,

with ``N0`` background and ``N1`` lesion voxels over all training images, so a lesion
voxel weighs ``N0 / N`` (about 0.99) and a background voxel ``N1 / N`` (about 0.01).

Reductions chosen here (the paper writes plain sums): the BCE term is the *mean* over
voxels of ``w_i * bce_i`` (``w_i = 1`` unweighted), so its scale does not grow with the
patch and batch size, and the Dice term sums over the whole batch (``batch_dice=True``,
one Dice per step, the paper's sum over all voxels) unless ``batch_dice=False``.
The BCE uses ``binary_cross_entropy_with_logits`` (log-sum-exp form): no ``log(0)``.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field

from data_pipeline.parts import Params
from models.losses.base import SegmentationLoss, soft_dice
from models.registry import LOSSES

__all__ = ["BCEDiceLoss", "DiceLoss", "DiceParams", "class_weights"]


class DiceParams(Params):
    """The soft Dice term's settings, shared by every loss that has one."""

    eps: Annotated[float, Field(gt=0.0)] = 1.0e-5
    """Smoothing added to numerator and denominator; keeps an empty patch at loss 0
    (ours: the paper writes eps without a value)."""
    batch_dice: bool = True
    """One Dice over the whole batch (the paper's sum over all voxels) instead of one per
    sample, averaged."""


def class_weights(class_counts: tuple[int, int] | None, loss_name: str) -> tuple[float, float]:
    """The paper's voxel weights ``(w_background, w_lesion) = (N1 / N, N0 / N)``.

    Args:
        class_counts: ``(N0, N1)``: background and lesion voxel counts over the training
            images (``data_pipeline.samplers.lesion_class_counts``).
        loss_name: Name of the loss asking, for the error message.

    Raises:
        ValueError: When the counts are missing, negative or both zero.
    """
    if class_counts is None:
        raise ValueError(
            f"Loss {loss_name!r} needs class_counts=(n0, n1): the background and lesion voxel "
            "counts over the training images, e.g. from "
            "data_pipeline.samplers.lesion_class_counts(cases); got None.")
    if len(class_counts) != 2:
        raise ValueError(f"class_counts must be (n0, n1), got {class_counts!r}.")
    n0, n1 = class_counts
    if n0 < 0 or n1 < 0 or n0 + n1 == 0:
        raise ValueError(f"class_counts must be non-negative voxel counts with a positive sum, "
                         f"got (n0={n0}, n1={n1}).")
    total = float(n0 + n1)
    return n1 / total, n0 / total


class BCEDiceLoss(SegmentationLoss):
    """Binary cross-entropy (optionally voxel-weighted) plus the soft Dice loss.

    Args:
        params: Dice smoothing and reduction.
        weights: ``(w_background, w_lesion)`` BCE weights, or ``None`` for plain BCE.
    """

    def __init__(self, params: DiceParams, weights: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.params = params
        self.weights = weights

    def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean (weighted) BCE on logits + soft Dice on ``sigmoid(logits)``."""
        weight = None
        if self.weights is not None:
            w_background, w_lesion = self.weights
            weight = w_lesion * target + w_background * (1.0 - target)
        bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
        dice = soft_dice(torch.sigmoid(logits), target, self.params.eps, self.params.batch_dice)
        return bce + dice


class DiceLoss(SegmentationLoss):
    """The soft Dice loss alone (ablation: no BCE term)."""

    def __init__(self, params: DiceParams) -> None:
        super().__init__()
        self.params = params

    def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Soft Dice on ``sigmoid(logits)``."""
        return soft_dice(torch.sigmoid(logits), target, self.params.eps, self.params.batch_dice)


@LOSSES.register("bce_dice", params=DiceParams)
def bce_dice(params: DiceParams, *, class_counts: tuple[int, int] | None) -> SegmentationLoss:
    """BCE + soft Dice, the paper's loss (Table 1 rows 1-5); ``class_counts`` is unused."""
    del class_counts
    return BCEDiceLoss(params)


@LOSSES.register("weighted_bce_dice", params=DiceParams)
def weighted_bce_dice(params: DiceParams, *,
                      class_counts: tuple[int, int] | None) -> SegmentationLoss:
    """Voxel-weighted BCE + soft Dice (the paper's final model, Table 1 row 6).

    Raises:
        ValueError: When ``class_counts`` is missing or invalid.
    """
    return BCEDiceLoss(params, weights=class_weights(class_counts, "weighted_bce_dice"))


@LOSSES.register("dice", params=DiceParams)
def dice(params: DiceParams, *, class_counts: tuple[int, int] | None) -> SegmentationLoss:
    """Soft Dice only (ablation); ``class_counts`` is unused."""
    del class_counts
    return DiceLoss(params)

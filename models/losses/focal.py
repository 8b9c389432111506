"""Sigmoid focal loss (Lin et al. 2017, arXiv:1708.02002) for the class-imbalance ablation.

Not in the paper: it is the usual alternative to a weighted BCE when lesion voxels are
under 1 % of the volume. ``FL = alpha_t * (1 - p_t)**gamma * BCE``, with the BCE taken
from the logits for stability and ``p_t`` the probability of the true class; the same
formula as ``torchvision.ops.sigmoid_focal_loss`` (torchvision is not a dependency).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field

from data_pipeline.parts import Params
from models.losses.base import SegmentationLoss
from models.registry import LOSSES

__all__ = ["FocalLoss", "FocalParams"]


class FocalParams(Params):
    gamma: Annotated[float, Field(ge=0.0)] = 2.0
    """Focusing exponent; 0 gives the (alpha-weighted) BCE (Lin et al.'s 2)."""
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] | None = 0.25
    """Weight of the lesion class (background: ``1 - alpha``), or null for no class
    weighting (Lin et al.'s 0.25)."""


class FocalLoss(SegmentationLoss):
    """Mean sigmoid focal loss over all voxels.

    Args:
        params: ``gamma`` and ``alpha``.
    """

    def __init__(self, params: FocalParams) -> None:
        super().__init__()
        self.params = params

    def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Focal loss, averaged over voxels."""
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        probs = torch.sigmoid(logits)
        p_true = probs * target + (1.0 - probs) * (1.0 - target)
        loss = bce * (1.0 - p_true) ** self.params.gamma
        alpha = self.params.alpha
        if alpha is not None:
            loss = loss * (alpha * target + (1.0 - alpha) * (1.0 - target))
        return loss.mean()


@LOSSES.register("focal", params=FocalParams)
def focal(params: FocalParams, *, class_counts: tuple[int, int] | None) -> SegmentationLoss:
    """Sigmoid focal loss (ablation, not in the paper); ``class_counts`` is unused."""
    del class_counts
    return FocalLoss(params)

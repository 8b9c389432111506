"""Sigmoid focal loss (Lin et al. 2017, arXiv:1708.02002) for the class-imbalance ablation.

Not in the paper: it is the usual alternative to a weighted BCE when lesion voxels are
under 1 % of the volume. ``FL = alpha_t * (1 - p_t)**gamma * BCE``, with the BCE taken
from the logits for stability and ``p_t`` the probability of the true class; the same
formula as ``torchvision.ops.sigmoid_focal_loss`` (torchvision is not a dependency).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.losses.base import SegmentationLoss
from models.registry import get_registry

__all__ = ["FocalLoss", "focal"]


class FocalLoss(SegmentationLoss):
    """Mean sigmoid focal loss over all voxels.

    Args:
        gamma: Focusing exponent; 0 gives the (alpha-weighted) BCE.
        alpha: Weight of the lesion class in ``[0, 1]`` (background gets ``1 - alpha``),
            or ``None`` for no class weighting.

    Raises:
        ValueError: When ``gamma < 0`` or ``alpha`` is outside ``[0, 1]``.
    """

    def __init__(self, *, gamma: float = 2.0, alpha: float | None = 0.25) -> None:
        super().__init__()
        if gamma < 0 or (alpha is not None and not 0.0 <= alpha <= 1.0):
            raise ValueError(
                f"Focal loss needs gamma >= 0 and alpha in [0, 1] or None, got gamma={gamma} "
                f"alpha={alpha}."
            )
        self.gamma = gamma
        self.alpha = alpha

    def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Focal loss, averaged over voxels."""
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        probs = torch.sigmoid(logits)
        p_true = probs * target + (1.0 - probs) * (1.0 - target)
        loss = bce * (1.0 - p_true) ** self.gamma
        if self.alpha is not None:
            loss = loss * (self.alpha * target + (1.0 - self.alpha) * (1.0 - target))
        return loss.mean()


@get_registry("loss").register("focal")
def focal(
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    class_counts: tuple[int, int] | None = None,
) -> FocalLoss:
    """Sigmoid focal loss (ablation); ``class_counts`` is ignored."""
    del class_counts
    return FocalLoss(gamma=gamma, alpha=alpha)

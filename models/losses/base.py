"""The base class every segmentation loss shares: input checks and float32 maths.

Why one base: each loss validates its inputs the same way and must stay numerically
stable when the network runs under ``torch.autocast`` (bf16 / fp16 logits). The base
``forward`` checks shapes, leaves autocast, casts both tensors to float32 and calls the
one method a subclass overrides, :meth:`SegmentationLoss.compute` (the TorchIO
``Transform.__call__`` -> ``apply_transform`` pattern).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SegmentationLoss", "soft_dice"]


def soft_dice(
    probs: torch.Tensor, target: torch.Tensor, eps: float, batch_dice: bool
) -> torch.Tensor:
    """The paper's soft Dice loss term: ``1 - (2 sum(p y) + eps) / (sum(p^2) + sum(y^2) + eps)``.

    Dobshik et al. (2023, section 2.4) square the probabilities and the labels in the
    denominator (Milletari et al. 2016, V-Net).

    Args:
        probs: Probabilities ``(B, 1, D, H, W)``, float32.
        target: Labels in {0, 1}, same shape, float32.
        eps: Smoothing added to numerator and denominator; keeps an empty patch
            (no lesion, all-zero prediction) at loss 0 instead of 0/0.
        batch_dice: Sum over the whole batch (one Dice, the paper's sum over all voxels
            ``i``) instead of one Dice per sample averaged over the batch.

    Returns:
        Scalar loss in ``[0, 1]``.
    """
    dims = tuple(range(probs.ndim)) if batch_dice else tuple(range(1, probs.ndim))
    overlap = (probs * target).sum(dims)
    denominator = (probs * probs).sum(dims) + (target * target).sum(dims)
    return (1.0 - (2.0 * overlap + eps) / (denominator + eps)).mean()


class SegmentationLoss(nn.Module):
    """Base loss: ``(logits, target) -> scalar``, computed in float32 outside autocast.

    Subclasses override :meth:`compute` only.
    """

    def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss on float32 logits and targets of equal shape; override this."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: Network output ``(B, 1, D, H, W)``, any float dtype (no sigmoid).
            target: Lesion mask, same shape, values 0 or 1 (any numeric dtype).

        Returns:
            A float32 scalar.

        Raises:
            ValueError: When the shapes differ.
        """
        if logits.shape != target.shape:
            raise ValueError(
                f"{type(self).__name__} needs logits and target of the same shape, got "
                f"logits {tuple(logits.shape)} and target {tuple(target.shape)}; both should "
                "be (B, 1, D, H, W)."
            )
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self.compute(logits.float(), target.float())

"""Segmentation losses; importing this package registers them (registry kind ``"loss"``).

Every loss is called as ``loss(logits, target)`` with ``(B, 1, D, H, W)`` tensors and
returns a float32 scalar, computed outside autocast.
"""

from __future__ import annotations

from models.losses.base import SegmentationLoss, soft_dice
from models.losses.bce_dice import BCEDiceLoss, DiceLoss, DiceParams, class_weights
from models.losses.focal import FocalLoss, FocalParams

__all__ = [
    "BCEDiceLoss",
    "DiceLoss",
    "DiceParams",
    "FocalLoss",
    "FocalParams",
    "SegmentationLoss",
    "class_weights",
    "soft_dice",
]

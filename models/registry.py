"""The network's kinds of parts, one registry each, and how their builders are called.

Why: every ablation knob of Dobshik et al. (2023, arXiv:2301.06793) that concerns the
network or its training is a name in a sweep file. Each kind is a registry of the
project's one mechanism (:mod:`data_pipeline.parts.registry`): a part registers its builder
with a frozen params model beside it, a sweep section ``{name, **params}`` is validated
against that model, and the builder receives the validated model plus the structural
arguments of its kind's contract below. Parts are registered by the explicit imports in
``models/__init__.py``; plugins by :func:`data_pipeline.parts.registry.load_plugins`.

Example:
    >>> from models.registry import LOSSES
    >>> LOSSES.spec("focal", {"gamma": 1.5}).params.gamma
    1.5
"""

from __future__ import annotations

from typing import Any

from data_pipeline.parts import Registry

__all__ = [
    "ACTIVATIONS",
    "BLOCKS",
    "KINDS",
    "LOSSES",
    "MODELS",
    "NORMS",
    "OPTIMIZERS",
    "SCHEDULES",
    "UPSAMPLES",
]

MODELS: Registry[Any] = Registry(
    "model", "builder(params, *, patch_size) -> nn.Module mapping (B, 1, D, H, W) patches of "
    "patch_size (the sampler's; None outside a trial) to logits of that shape")
BLOCKS: Registry[Any] = Registry(
    "block", "builder(params, *, in_channels, out_channels) -> nn.Module")
NORMS: Registry[Any] = Registry("norm", "builder(params, *, channels) -> nn.Module")
ACTIVATIONS: Registry[Any] = Registry("activation", "builder(params) -> nn.Module")
UPSAMPLES: Registry[Any] = Registry(
    "upsample", "builder(params, *, in_channels, out_channels) -> nn.Module doubling each size")
LOSSES: Registry[Any] = Registry(
    "loss", "builder(params, *, class_counts) -> SegmentationLoss; class_counts = (N0, N1) "
    "voxels of the fold's training cases")
OPTIMIZERS: Registry[Any] = Registry(
    "optimizer", "builder(params, *, parameters) -> torch.optim.Optimizer")
SCHEDULES: Registry[Any] = Registry(
    "schedule", "builder(params, *, optimizer) -> LRScheduler, stepped once per iteration")

KINDS: tuple[str, ...] = tuple(r.kind for r in (MODELS, BLOCKS, NORMS, ACTIVATIONS, UPSAMPLES,
                                                 LOSSES, OPTIMIZERS, SCHEDULES))
"""The kinds this package owns, in the order ``python -m models list`` prints them."""

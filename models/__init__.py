"""Network blocks, the 3D U-Net, losses, optimizers and schedules, built from a registry.

Everything a sweep can name is registered by the explicit imports below (never by
scanning folders), then third-party parts from ``stroke_platform.plugins`` entry points
are loaded once. ``python -m models list`` prints every name.

Example:
    >>> import torch
    >>> from models import build_loss, build_model
    >>> net = build_model("unet3d_residual_se", base_width=4, depth=2)
    >>> logits = net(torch.zeros(1, 1, 9, 10, 11))
    >>> tuple(logits.shape)
    (1, 1, 9, 10, 11)
    >>> build_loss("bce_dice")(logits, torch.zeros_like(logits)).item() > 0
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from models import blocks, losses, optim, unet3d  # noqa: F401 -- imported to register parts
from models.precision import autocast_dtype, to_channels_last
from models.registry import UnknownNameError, get_registry, list_names, load_plugins

__all__ = [
    "UnknownNameError",
    "autocast_dtype",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_schedule",
    "list_names",
    "to_channels_last",
]


def _checked(kind: str, name: str, built: Any, expected: type) -> Any:
    if not isinstance(built, expected):
        raise TypeError(
            f"The {kind} builder {name!r} returned {type(built).__name__}, expected "
            f"{expected.__module__}.{expected.__qualname__}."
        )
    return built


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the network ``name`` (e.g. ``"unet3d_residual_se"``) with keyword overrides.

    Raises:
        UnknownNameError: When ``name`` is not a registered model.
    """
    return _checked("model", name, get_registry("model").build(name, **kwargs), nn.Module)


def build_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build the loss ``name``: a module ``(logits, target) -> scalar``, both ``(B, 1, D, H, W)``.

    Every loss accepts ``class_counts=(n0, n1)``; only ``"weighted_bce_dice"`` needs it.

    Raises:
        UnknownNameError: When ``name`` is not a registered loss.
    """
    return _checked("loss", name, get_registry("loss").build(name, **kwargs), nn.Module)


def build_optimizer(
    name: str, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], **kwargs: Any
) -> Optimizer:
    """Build the optimizer ``name`` over ``params`` (e.g. ``"adam"``: lr 1e-4, decay 1e-5).

    Raises:
        UnknownNameError: When ``name`` is not a registered optimizer.
    """
    built = get_registry("optimizer").build(name, params=params, **kwargs)
    return _checked("optimizer", name, built, Optimizer)


def build_schedule(name: str, optimizer: Optimizer, **kwargs: Any) -> LRScheduler:
    """Build the learning-rate schedule ``name``; step it once per iteration.

    Raises:
        UnknownNameError: When ``name`` is not a registered schedule.
    """
    built = get_registry("schedule").build(name, optimizer=optimizer, **kwargs)
    return _checked("schedule", name, built, LRScheduler)


load_plugins()

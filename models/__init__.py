"""Network blocks, the 3D U-Net, losses, optimizers and schedules, built from registries.

Everything a sweep can name is registered by the explicit imports below (never by
scanning folders), then third-party parts from ``stroke_platform.plugins`` entry points
are loaded once. ``python -m models list`` prints every part with its parameters.

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

from data_pipeline.parts import PartSpec, Registry, load_plugins
from models import (  # noqa: F401 -- imported to register parts
    blocks,
    losses,
    monai_nets,
    optim,
    unet3d,
)
from models.losses import SegmentationLoss
from models.precision import autocast_dtype
from models.registry import LOSSES, MODELS, OPTIMIZERS, SCHEDULES

__all__ = ["autocast_dtype", "build_loss", "build_model", "build_optimizer", "build_schedule",
           "network_problem"]


def _spec(registry: Registry[Any], part: PartSpec | str, params: dict[str, Any]) -> PartSpec:
    """``part`` itself, or the validated part of that name with ``params``."""
    if isinstance(part, str):
        return registry.spec(part, params)
    if params:
        raise TypeError(f"pass parameters inside the spec, not beside it: {sorted(params)}")
    return part


def _checked(spec: PartSpec, built: Any, expected: type) -> Any:
    if not isinstance(built, expected):
        raise TypeError(f"The {spec.kind} builder {spec.name!r} returned "
                        f"{type(built).__name__}, expected {expected.__module__}."
                        f"{expected.__qualname__}.")
    return built


def build_model(part: PartSpec | str, *, patch_size: tuple[int, int, int] | None = None,
                **params: Any) -> nn.Module:
    """The network ``part`` names, e.g. ``build_model("unet3d_residual_se", base_width=8)``.

    Args:
        patch_size: ``(D, H, W)`` of the patches it will see in training and tiled
            inference (the sampler's). A network built for one size (``monai_unetr``,
            ``monai_dynunet``) needs it; the others check it when given.

    Raises:
        UnknownNameError, ParamsError: an unknown name or parameter (with the part's
            parameters and a did-you-mean).
        ValueError: a network that cannot take patches of ``patch_size``.
    """
    spec = _spec(MODELS, part, params)
    return _checked(spec, MODELS.create(spec, patch_size=patch_size), nn.Module)


def network_problem(part: PartSpec, patch_size: tuple[int, int, int]) -> str | None:
    """Why the network ``part`` cannot be built for patches of ``patch_size`` (a missing
    package, a size it cannot take), or None; cheap: nothing is built.

    A part's params model states its rule with a ``build_problem(patch_size)`` method
    (:class:`models.monai_nets.common.MonaiNetParams`); a part without one takes any size.
    """
    rule = getattr(part.params, "build_problem", None)
    problem: str | None = rule(patch_size) if callable(rule) else None
    return problem


def build_loss(part: PartSpec | str, *, class_counts: tuple[int, int] | None = None,
               **params: Any) -> SegmentationLoss:
    """The loss ``part`` names: ``(logits, target) -> scalar``, both ``(B, 1, D, H, W)``.

    ``class_counts`` are ``(N0, N1)`` of the fold's training cases; only the weighted
    loss uses them.
    """
    spec = _spec(LOSSES, part, params)
    return _checked(spec, LOSSES.create(spec, class_counts=class_counts), SegmentationLoss)


def build_optimizer(part: PartSpec | str,
                    parameters: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
                    **params: Any) -> Optimizer:
    """The optimizer ``part`` names over ``parameters``."""
    spec = _spec(OPTIMIZERS, part, params)
    return _checked(spec, OPTIMIZERS.create(spec, parameters=parameters), Optimizer)


def build_schedule(part: PartSpec | str, optimizer: Optimizer, **params: Any) -> LRScheduler:
    """The learning-rate schedule ``part`` names; step it once per iteration."""
    spec = _spec(SCHEDULES, part, params)
    return _checked(spec, SCHEDULES.create(spec, optimizer=optimizer), LRScheduler)


load_plugins()

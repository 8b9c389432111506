"""Normalization and activation layers by name, and the ``(name, {kwargs})`` layer spec.

Why: the paper's ablation swaps instance for batch normalization and LeakyReLU for
ReLU (Dobshik et al. 2023, section 2.3); those choices are registry names so that a
sweep names them and a lab can add its own (``get_registry("norm").register(...)``).
A layer choice is either a bare name (``"instance"``) or a ``(name, {kwargs})`` pair
(``("group", {"num_groups": 4})``), resolved by :func:`make_layer` as in MONAI
``networks/layers/factories.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from models.registry import get_registry

__all__ = ["LayerSpec", "make_layer", "split_spec"]

LayerSpec = str | tuple[str, Mapping[str, Any]]
"""A layer choice: ``"name"`` or ``("name", {"kwarg": value})``."""

_norms = get_registry("norm")
_activations = get_registry("activation")


def split_spec(spec: LayerSpec) -> tuple[str, dict[str, Any]]:
    """Split a :data:`LayerSpec` into its name and keyword arguments.

    Raises:
        TypeError: When ``spec`` is neither a str nor a ``(str, mapping)`` pair.
    """
    if isinstance(spec, str):
        return spec, {}
    if (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], Mapping)
    ):
        return spec[0], dict(spec[1])
    raise TypeError(
        f"A layer choice must be a name or a (name, {{kwargs}}) pair, got {spec!r}; "
        "e.g. 'instance' or ('group', {'num_groups': 4})."
    )


def make_layer(kind: str, spec: LayerSpec, **required: Any) -> nn.Module:
    """Build the layer ``spec`` of registry ``kind``; ``required`` are the structural args.

    The structural arguments (channel counts) come from the network and win over any
    keyword arguments in the spec, which carry only the layer's own options.

    Args:
        kind: Registry kind, e.g. ``"norm"``, ``"activation"``, ``"upsample"``.
        spec: The layer choice.
        **required: Arguments the network fixes, e.g. ``channels=32``.

    Raises:
        UnknownNameError: When the name is not registered in ``kind``.
    """
    name, options = split_spec(spec)
    layer = get_registry(kind).build(name, **{**options, **required})
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"The {kind} builder {name!r} returned {type(layer).__name__}, expected an nn.Module."
        )
    return layer


@_norms.register("instance")
def instance_norm(channels: int, *, affine: bool = True, eps: float = 1e-5) -> nn.Module:
    """Instance normalization, the paper's choice: statistics per sample, so batch 2 is fine."""
    return nn.InstanceNorm3d(channels, affine=affine, eps=eps)


@_norms.register("batch")
def batch_norm(channels: int, *, momentum: float = 0.1, eps: float = 1e-5) -> nn.Module:
    """Batch normalization; the paper found it worse at batch size 2 (kept for the ablation)."""
    return nn.BatchNorm3d(channels, momentum=momentum, eps=eps)


@_norms.register("group")
def group_norm(channels: int, *, num_groups: int = 8, eps: float = 1e-5) -> nn.Module:
    """Group normalization with ``min(num_groups, channels)`` groups.

    Raises:
        ValueError: When ``channels`` is not divisible by the number of groups.
    """
    groups = min(num_groups, channels)
    if channels % groups:
        raise ValueError(
            f"Group norm needs channels divisible by num_groups, got channels={channels} "
            f"num_groups={groups}; pick a base_width that is a multiple of {groups} or pass "
            "norm=('group', {'num_groups': G}) with G dividing every width."
        )
    return nn.GroupNorm(groups, channels, eps=eps)


@_norms.register("none")
def no_norm(channels: int) -> nn.Module:
    """No normalization (identity); ``channels`` is accepted for a uniform signature."""
    del channels
    return nn.Identity()


@_activations.register("leaky_relu")
def leaky_relu(*, negative_slope: float = 0.01, inplace: bool = True) -> nn.Module:
    """LeakyReLU, the paper's activation (slope not stated there: PyTorch's 0.01 is used).

    In place by default: it halves the activation memory of this layer, and autograd
    supports it because the backward pass only needs the output's sign.
    """
    return nn.LeakyReLU(negative_slope=negative_slope, inplace=inplace)


@_activations.register("relu")
def relu(*, inplace: bool = True) -> nn.Module:
    """ReLU, the more common activation the paper compared against."""
    return nn.ReLU(inplace=inplace)

"""Normalization and activation layers by name, each with its own parameters.

Why: the paper's ablation swaps instance for batch normalization and LeakyReLU for ReLU
(Dobshik et al. 2023, section 2.3); those are parts of the kinds ``"norm"`` and
``"activation"`` so that a sweep names them with their parameters
(``norm: {name: group, num_groups: 4}``) and a lab can add its own.

:class:`ChannelsLastInstanceNorm3d` is the inference-time twin of instance norm that keeps
the channels-last memory layout (see :func:`models.precision.channels_last_copy`).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from data_pipeline.parts import NoParams, Params
from models.registry import ACTIVATIONS, NORMS

__all__ = ["ChannelsLastInstanceNorm3d"]

Epsilon = Annotated[float, Field(gt=0.0)]


class InstanceNormParams(Params):
    affine: bool = True
    """Learn a scale and shift per channel (ours, as MONAI; PyTorch's default is no)."""
    eps: Epsilon = 1e-5
    """Added to the variance (PyTorch's default)."""


class BatchNormParams(Params):
    momentum: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    """Weight of the newest batch in the running statistics (PyTorch's default)."""
    eps: Epsilon = 1e-5
    """Added to the variance (PyTorch's default)."""


class GroupNormParams(Params):
    num_groups: Annotated[int, Field(ge=1)] = 8
    """Channel groups; ``min(num_groups, channels)`` are used and must divide every width
    (ours: 8, a common choice; not in the paper)."""
    eps: Epsilon = 1e-5
    """Added to the variance (PyTorch's default)."""


class LeakyReLUParams(Params):
    negative_slope: Annotated[float, Field(ge=0.0)] = 0.01
    """Slope for negative inputs; the paper does not state it: PyTorch's default."""
    inplace: bool = True
    """Overwrite the input (ours: halves this layer's activation memory; same result)."""


class ReLUParams(Params):
    inplace: bool = True
    """Overwrite the input (ours: same result, less memory)."""


@NORMS.register("instance", params=InstanceNormParams)
def instance_norm(params: InstanceNormParams, *, channels: int) -> nn.Module:
    """Instance normalization, the paper's choice: statistics per sample, so batch 2 is fine."""
    return nn.InstanceNorm3d(channels, affine=params.affine, eps=params.eps)


@NORMS.register("batch", params=BatchNormParams)
def batch_norm(params: BatchNormParams, *, channels: int) -> nn.Module:
    """Batch normalization; the paper found it worse at batch size 2 (kept for the ablation)."""
    return nn.BatchNorm3d(channels, momentum=params.momentum, eps=params.eps)


@NORMS.register("group", params=GroupNormParams)
def group_norm(params: GroupNormParams, *, channels: int) -> nn.Module:
    """Group normalization with ``min(num_groups, channels)`` groups.

    Raises:
        ValueError: When ``channels`` is not divisible by the number of groups.
    """
    groups = min(params.num_groups, channels)
    if channels % groups:
        raise ValueError(
            f"Group norm needs channels divisible by num_groups, got channels={channels} "
            f"num_groups={groups}; pick a base_width that is a multiple of {groups} or a "
            "num_groups dividing every width (norm: {name: group, num_groups: G}).")
    return nn.GroupNorm(groups, channels, eps=params.eps)


@NORMS.register("none", params=NoParams)
def no_norm(params: NoParams, *, channels: int) -> nn.Module:
    """No normalization (identity); ``channels`` is part of the kind's contract."""
    del params, channels
    return nn.Identity()


@ACTIVATIONS.register("leaky_relu", params=LeakyReLUParams)
def leaky_relu(params: LeakyReLUParams) -> nn.Module:
    """LeakyReLU, the paper's activation."""
    return nn.LeakyReLU(negative_slope=params.negative_slope, inplace=params.inplace)


@ACTIVATIONS.register("relu", params=ReLUParams)
def relu(params: ReLUParams) -> nn.Module:
    """ReLU, the more common activation the paper compared against."""
    return nn.ReLU(inplace=params.inplace)


class ChannelsLastInstanceNorm3d(nn.Module):
    """``nn.InstanceNorm3d`` without running statistics that keeps channels-last layout.

    PyTorch's instance norm makes its input contiguous (``aten::instance_norm`` reshapes
    it), so in a channels-last network every norm layer costs two full copies, which
    undo the gain of channels-last oneDNN convolutions on CPU. This layer computes the
    same per-sample, per-channel normalisation (biased variance, as the original) in two
    passes, mean then mean of squared deviations, element-wise ops that keep the layout.
    Two passes rather than ``torch.var_mean``: its Welford kernel took 80 ms on a
    ``(2, 16, 96, 96, 96)`` tensor on 2 CPU cores, a mean 8 ms; the two-pass variance is as
    exact (both within 1.3e-6 of a float64 reference there). Without autograd the output
    is written over the centred copy instead of a new tensor.
    ``GroupNorm(C, C)`` would also be equivalent but its channels-last CPU kernel loses
    about 3e-5 of precision after the sigmoid, over the 1e-5 this module guarantees.

    Args:
        norm: the layer to replace; its affine parameters are shared, not copied.
    """

    def __init__(self, norm: nn.InstanceNorm3d) -> None:
        super().__init__()
        if norm.track_running_stats:
            raise ValueError("only instance norm without running statistics can be replaced")
        self.eps = norm.eps
        self.weight = norm.weight
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``(B, C, D, H, W)`` (or unbatched ``(C, D, H, W)``) over D, H, W."""
        dims = (-3, -2, -1)
        centred = x - x.mean(dim=dims, keepdim=True)
        scale = torch.rsqrt(centred.square().mean(dim=dims, keepdim=True) + self.eps)
        affine = self.weight is not None and self.bias is not None
        if affine:
            scale = scale * self.weight.view(-1, 1, 1, 1)
        if torch.is_grad_enabled() and (x.requires_grad or affine and self.weight.requires_grad):
            out = centred * scale
            return out + self.bias.view(-1, 1, 1, 1) if affine else out
        out = centred.mul_(scale)  # centred is ours and not needed again: no new tensor
        return out.add_(self.bias.view(-1, 1, 1, 1)) if affine else out

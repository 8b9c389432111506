"""Mixed-precision and memory-layout choices for running the network.

The paper trained in float32 on a 16 GB T4. On current GPUs, autocast and the
``channels_last_3d`` memory layout make convolutions use tensor cores and cut activation
memory (ours, switchable: ``train.amp``, ``train.channels_last``). bfloat16 is used where
the GPU computes it natively (Ampere, sm_80, and later); elsewhere (T4, V100) float16
with a gradient scaler, because ``torch.cuda.is_bf16_supported()`` also answers True
where bf16 is only emulated, and cuDNN's 3D convolutions are then slow or missing. On
CPU the network stays in float32: CPU autocast gains little for 3D convolutions, and
reproducibility matters more there. Losses always compute in float32
(:class:`models.losses.SegmentationLoss`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from models.blocks.layers import ChannelsLastInstanceNorm3d

__all__ = [
    "autocast_dtype", "channels_last_copy", "native_bf16", "swap_instance_norms",
    "to_channels_last",
]


def autocast_dtype(device: torch.device | str, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype on ``device``: native bf16, else fp16, on CUDA; None on CPU.

    Args:
        device: Where the model runs, e.g. ``"cuda:0"`` or ``torch.device("cpu")``.
        enabled: ``False`` (``train.amp: false``) always gives None: float32.

    Returns:
        ``torch.bfloat16`` or ``torch.float16`` for CUDA, ``None`` (float32) otherwise.
        With float16 the trainer needs a ``torch.amp.GradScaler``.
    """
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return None
    with torch.cuda.device(device):
        return torch.bfloat16 if native_bf16() else torch.float16


def native_bf16() -> bool:
    """Whether the current CUDA device runs bf16 natively (not through emulation)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.4 has no such argument: native means sm_80 or later
        return torch.cuda.get_device_capability() >= (8, 0)


def channels_last_copy(model: nn.Module) -> nn.Module:
    """A ``channels_last_3d`` copy of ``model`` for inference, its instance norms swapped
    for :class:`ChannelsLastInstanceNorm3d` (same results, no layout round trips).

    PyTorch's instance norm makes its input contiguous, so in a channels-last network every
    norm layer would cost two full copies. Parameters are shared with ``model``.
    """
    network = copy.deepcopy(model)
    swap_instance_norms(network)
    return to_channels_last(network)


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` itself, converted in place to the ``channels_last_3d`` memory layout.

    The one call of ``Module.to(memory_format=...)``: torch documents the keyword, but its
    type stubs have no overload for it (pytorch/pytorch#184642; ``unused-ignore`` keeps
    mypy quiet under a torch whose stubs have one).
    """
    return model.to(  # type: ignore[call-overload, unused-ignore]  # stubs lack memory_format
        memory_format=torch.channels_last_3d)


def swap_instance_norms(model: nn.Module) -> int:
    """Replace, in place, the instance norms without running statistics by
    :class:`ChannelsLastInstanceNorm3d` (same parameters); return how many were replaced."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.InstanceNorm3d and not child.track_running_stats:
                setattr(parent, name, ChannelsLastInstanceNorm3d(child))
                swapped += 1
    return swapped

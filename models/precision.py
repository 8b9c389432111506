"""Mixed-precision and memory-layout helpers for running the network on a GPU.

The paper trained in float32 on a 16 GB T4. On current GPUs, autocast (bf16 where the
GPU supports it, else fp16) and the ``channels_last_3d`` memory layout make convolutions
use tensor cores and cut activation memory. On CPU the network stays in float32: CPU
autocast gains little for 3D convolutions, and reproducibility matters more there.
Losses always compute in float32 (:class:`models.losses.SegmentationLoss`).

Usage in a training step::

    dtype = autocast_dtype(device)
    model = to_channels_last(model.to(device))
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        loss = loss_fn(model(to_channels_last(images)), target)

With fp16 (not bf16) the trainer also needs a ``torch.amp.GradScaler``.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

__all__ = ["autocast_dtype", "native_bf16", "to_channels_last"]

ModuleOrTensor = TypeVar("ModuleOrTensor", nn.Module, torch.Tensor)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``device``: bf16 where the GPU runs it natively, else fp16; CPU None.

    ``torch.cuda.is_bf16_supported()`` also says True on T4/V100 (sm_75/sm_70), where bf16
    is emulated and cuDNN's 3D convolutions in bf16 are slow or missing; only native
    support (Ampere, sm_80, and later) counts here, so those GPUs get fp16 (and the trainer
    a ``GradScaler``).

    Args:
        device: Where the model runs, e.g. ``"cuda:0"`` or ``torch.device("cpu")``.

    Returns:
        ``torch.bfloat16`` or ``torch.float16`` for CUDA, ``None`` (full precision) otherwise.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None
    with torch.cuda.device(device):
        return torch.bfloat16 if native_bf16() else torch.float16


def native_bf16() -> bool:
    """Whether the current CUDA device runs bf16 natively (not through emulation)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.4 has no such argument: native means sm_80 or later
        return torch.cuda.get_device_capability() >= (8, 0)


def to_channels_last(x: ModuleOrTensor) -> ModuleOrTensor:
    """Convert a 3D model or a ``(B, C, D, H, W)`` tensor to ``torch.channels_last_3d``.

    Same as ``x.to(memory_format=torch.channels_last_3d)``; worth it on a GPU with
    tensor cores, neutral to slower on CPU.
    """
    return x.to(memory_format=torch.channels_last_3d)

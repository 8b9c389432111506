"""The 3D U-Net of Dobshik et al. (2023), with every ablation knob as a named part.

Reproduces section 2.3 of arXiv:2301.06793: an encoder-decoder 3D U-Net (Cicek et al.
2016) whose blocks are two 3x3x3 conv-norm-activation layers, with optional residual
connections and Squeeze-and-Excitation in every encoder and decoder block, trilinear
up-sampling in the decoder and one output channel of logits (the sigmoid lives in the
loss and at inference). Widths double at each of the ``depth`` max-pool
down-samplings (defaults ``base_width=16``, ``depth=4``: 16, 32, 64, 128, 256)::

    x ── E0 ─────────────────────────────────────────── cat ─ D0 ── 1x1x1 ──> logits
          └ pool ─ E1 ─────────────────────── cat ─ D1 ─ up ┘
                        └ pool ─ ... ─ E_depth (bottleneck) ─ up ┘

    E_i, D_i = ConvBlock (models/blocks/conv_block.py); up = registry "upsample"

Any input size works: the forward pass zero-pads every spatial axis to a multiple of
``2**depth`` (at least ``2**(depth+1)``, so that the bottleneck keeps two voxels per axis
for instance-norm statistics) and crops the logits back. Training patches of 128^3
need no padding. See ``docs/models.md`` for the parameter counts and the choice of
defaults.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.checkpoint import checkpoint

import models.blocks.upsample  # noqa: F401 -- registers the up-sampling named below
from data_pipeline.parts import Part
from models.blocks.conv_block import ConvBlockParams
from models.registry import BLOCKS, MODELS, UPSAMPLES

__all__ = ["UNet3D", "UNet3DParams", "pad_to_multiple"]


class UNet3DParams(ConvBlockParams):
    """The network's shape; the block choices it inherits apply to every block."""

    base_width: Annotated[int, Field(ge=1)] = 16
    """Channels of the first level; level ``i`` has ``base_width * 2**i``. Ours (the paper
    gives none): 16 keeps a float32 128^3 batch of 2 within a 16 GB T4 (docs/models.md)."""
    depth: Annotated[int, Field(ge=1, le=7)] = 4
    """2x max-pool down-samplings; ours: the classic U-Net's 5 levels (128^3 -> 8^3)."""
    upsample: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "upsample", "trilinear")
    """Decoder up-sampling (paper: trilinear)."""
    checkpointing: bool = False
    """Recompute each block's activations in the backward pass: about half the activation
    memory for about 30 % more time (ours; not with batch norm, whose running statistics
    would be updated twice per step)."""


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int) -> torch.Tensor:
    """Zero-pad the end of each spatial axis of ``(B, C, D, H, W)`` to a multiple of ``multiple``.

    Args:
        x: Volume batch ``(B, C, D, H, W)``.
        multiple: Every padded size is a multiple of this (the total down-sampling).
        minimum: No padded size is smaller than this.

    Returns:
        The padded tensor (``x`` itself when no padding is needed). Zero is the
        background value after the paper's pre-processing, so padding adds no signal.
    """
    pads: list[int] = []
    for size in reversed(x.shape[2:]):
        target = max(minimum, -(-size // multiple) * multiple)
        pads += [0, target - size]
    return F.pad(x, pads) if any(pads) else x


class UNet3D(nn.Module):
    """3D U-Net with switchable normalization, activation, residual, SE and up-sampling.

    Args:
        params: The validated choices (:class:`UNet3DParams`).
        in_channels: Input channels (1: one CT window).
        out_channels: Output channels (1: lesion logits).
    """

    def __init__(self, params: UNet3DParams, in_channels: int = 1, out_channels: int = 1) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"UNet3D needs at least one channel in and out, got "
                             f"in_channels={in_channels} out_channels={out_channels}.")
        self.in_channels = in_channels
        self.depth = params.depth
        self.checkpointing = params.checkpointing
        widths = [params.base_width * 2**level for level in range(params.depth + 1)]
        own = set(ConvBlockParams.model_fields)
        block = BLOCKS.spec("conv_block", params.model_dump(include=own))

        def make(channels_in: int, channels_out: int) -> nn.Module:
            return BLOCKS.create(block, in_channels=channels_in, out_channels=channels_out)

        self.encoders = nn.ModuleList(
            [make(in_channels, widths[0])]
            + [make(widths[level - 1], widths[level]) for level in range(1, params.depth + 1)])
        self.pool = nn.MaxPool3d(kernel_size=2)
        levels = list(reversed(range(params.depth)))
        self.upsamples = nn.ModuleList(
            UPSAMPLES.create(params.upsample, in_channels=widths[level + 1],
                             out_channels=widths[level]) for level in levels)
        self.decoders = nn.ModuleList(make(2 * widths[level], widths[level]) for level in levels)
        self.head = nn.Conv3d(widths[0], out_channels, kernel_size=1)
    def _run(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            out: torch.Tensor = checkpoint(block, x, use_reentrant=False)
            return out
        return block(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment a batch of volumes.

        Args:
            x: ``(B, in_channels, D, H, W)``, any spatial size.

        Returns:
            Logits ``(B, out_channels, D, H, W)``, same spatial size as ``x``.

        Raises:
            ValueError: When ``x`` is not 5-D or has the wrong number of channels.
        """
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet3D expects (B, {self.in_channels}, D, H, W), got shape "
                f"{tuple(x.shape)}; add batch/channel axes with x[None, None]."
            )
        depth_, height, width = x.shape[2:]
        x = pad_to_multiple(x, 2**self.depth, 2 ** (self.depth + 1))
        skips: list[torch.Tensor] = []
        for level, encoder in enumerate(self.encoders):
            x = self._run(encoder, x if level == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for upsample, decoder in zip(self.upsamples, self.decoders, strict=True):
            x = self._run(decoder, torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)[:, :, :depth_, :height, :width]



@MODELS.register("unet3d_residual_se", params=UNet3DParams, defaults={"residual": True, "se": True})
@MODELS.register("unet3d_residual", params=UNet3DParams, defaults={"residual": True, "se": False})
@MODELS.register("unet3d", params=UNet3DParams, defaults={"residual": False, "se": False})
def unet3d(params: UNet3DParams, *, patch_size: tuple[int, int, int] | None = None
           ) -> nn.Module:
    """The U-Net; ``unet3d`` is plain (Table 1 rows 1-3), ``unet3d_residual`` adds residual
    connections (row 4), ``unet3d_residual_se`` adds SE too (rows 5-6, the final model).

    ``patch_size`` (the registry's contract) shapes nothing: the U-Net pads any size."""
    del patch_size  # any patch passes: the forward pass pads to a multiple of 2**depth
    return UNet3D(params)

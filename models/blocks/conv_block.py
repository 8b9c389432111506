"""The U-Net's convolutional block: two 3x3x3 convolutions, optional SE and residual path.

Dobshik et al. (2023, section 2.3 and Fig. 3): every encoder and decoder block is two
3x3x3 convolutions with stride 1, each followed by normalization and activation. The
paper's final model adds Squeeze-and-Excitation and a residual connection whose input
passes a 1x1x1 convolution so that it can be added to the block output::

    x ─┬─ conv3 ─ norm ─ act ─ conv3 ─ norm ─ act ─ [SE] ─(+)──> y   (B, out, D, H, W)
       └──────────────── conv 1x1x1 (in -> out) ─────────┘
                          (residual=True only)

Fig. 3 is not in the text: this file places SE on the convolution branch before the
addition, as in SE-ResNet (Hu et al. 2018), and adds no activation after the sum, since
the paper lists norm + activation only after each convolution. The 1x1x1 projection is
used even when ``in == out``, as the paper describes one in every block.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

import models.blocks.layers  # noqa: F401 -- registers the norms and activations named below
from data_pipeline.parts import Params, Part
from models.blocks.squeeze_excitation import SqueezeExcitation
from models.registry import ACTIVATIONS, BLOCKS, NORMS

__all__ = ["ConvBlock", "ConvBlockParams"]


class ConvBlockParams(Params):
    """The block's choices; the U-Net's parameters extend these (every block alike)."""

    norm: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "norm", "instance")
    """Normalization after each convolution (paper: instance norm)."""
    activation: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "activation", "leaky_relu")
    """Activation after each normalization (paper: LeakyReLU)."""
    residual: bool = False
    """Add a 1x1x1-projected copy of the block input to its output (paper: final model)."""
    se: bool = False
    """Gate the output channels with Squeeze-and-Excitation (paper: final model)."""
    se_ratio: Annotated[int, Field(ge=1)] = 16
    """SE reduction ratio ``r``; hidden width ``max(1, C // r)`` (paper: 16)."""


class ConvBlock(nn.Module):
    """Two conv-norm-activation layers, then optional SE, plus an optional residual path.

    Args:
        in_channels: Channels of the block input.
        out_channels: Channels of the block output.
        params: Norm, activation, residual and SE choices.
    """

    def __init__(self, in_channels: int, out_channels: int, params: ConvBlockParams) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for channels_in in (in_channels, out_channels):
            layers += [
                nn.Conv3d(channels_in, out_channels, kernel_size=3, padding=1),
                NORMS.create(params.norm, channels=out_channels),
                ACTIVATIONS.create(params.activation),
            ]
        if params.se:
            layers.append(SqueezeExcitation(out_channels, params.se_ratio))
        self.body = nn.Sequential(*layers)
        self.projection: nn.Module | None = (
            nn.Conv3d(in_channels, out_channels, kernel_size=1) if params.residual else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: ``(B, in_channels, D, H, W)``.

        Returns:
            ``(B, out_channels, D, H, W)``.
        """
        out = self.body(x)
        if self.projection is not None:
            out = out + self.projection(x)
        return out


@BLOCKS.register("conv_block", params=ConvBlockParams)
def conv_block(params: ConvBlockParams, *, in_channels: int, out_channels: int) -> nn.Module:
    """The paper's block (with ``residual=se=True``): two conv-norm-act, SE, residual."""
    return ConvBlock(in_channels, out_channels, params)

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

import torch
from torch import nn

from models.blocks.layers import LayerSpec, make_layer
from models.blocks.squeeze_excitation import SqueezeExcitation
from models.registry import get_registry

__all__ = ["ConvBlock", "conv_block"]


class ConvBlock(nn.Module):
    """Two conv-norm-activation layers, then optional SE, plus an optional residual path.

    Args:
        in_channels: Channels of the block input.
        out_channels: Channels of the block output.
        norm: Normalization choice (registry kind ``"norm"``), e.g. ``"instance"``.
        activation: Activation choice (registry kind ``"activation"``), e.g. ``"leaky_relu"``.
        residual: Add a 1x1x1-projected copy of the input to the output.
        se: Gate the output channels with Squeeze-and-Excitation.
        se_ratio: SE reduction ratio ``r`` (paper: 16).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        norm: LayerSpec = "instance",
        activation: LayerSpec = "leaky_relu",
        residual: bool = False,
        se: bool = False,
        se_ratio: int = 16,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for channels_in in (in_channels, out_channels):
            layers += [
                nn.Conv3d(channels_in, out_channels, kernel_size=3, padding=1),
                make_layer("norm", norm, channels=out_channels),
                make_layer("activation", activation),
            ]
        if se:
            layers.append(SqueezeExcitation(out_channels, se_ratio))
        self.body = nn.Sequential(*layers)
        self.projection: nn.Module | None = (
            nn.Conv3d(in_channels, out_channels, kernel_size=1) if residual else None
        )

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


@get_registry("block").register("conv_block")
def conv_block(
    in_channels: int,
    out_channels: int,
    *,
    norm: LayerSpec = "instance",
    activation: LayerSpec = "leaky_relu",
    residual: bool = False,
    se: bool = False,
    se_ratio: int = 16,
) -> nn.Module:
    """Build a :class:`ConvBlock` (the paper's block when ``residual=se=True``)."""
    return ConvBlock(
        in_channels,
        out_channels,
        norm=norm,
        activation=activation,
        residual=residual,
        se=se,
        se_ratio=se_ratio,
    )

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

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from models.blocks.layers import LayerSpec, make_layer
from models.registry import get_registry

__all__ = ["UNet3D", "pad_to_multiple", "unet3d"]


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
        in_channels: Input channels (1: one CT window).
        out_channels: Output channels (1: lesion logits).
        base_width: Channels of the first level; level ``i`` has ``base_width * 2**i``.
        depth: Number of 2x max-pool down-samplings (the bottleneck is level ``depth``).
        norm: Normalization: ``"instance"`` (paper), ``"batch"``, ``"group"``, ``"none"``
            or a ``(name, {kwargs})`` pair.
        activation: ``"leaky_relu"`` (paper) or ``"relu"``, or a ``(name, {kwargs})`` pair.
        residual: 1x1x1-projected residual connection in every block (paper's final model).
        se: Squeeze-and-Excitation in every block (paper's final model).
        se_ratio: SE reduction ratio ``r`` (paper: 16).
        upsample: Decoder up-sampling: ``"trilinear"`` (paper) or ``"transposed"``.
        checkpointing: Recompute each block's activations in the backward pass instead of
            storing them: roughly half the activation memory for about 30 % more time.
            Not recommended with batch norm, whose running statistics would be updated
            twice per step.

    Raises:
        ValueError: When a width, depth or channel count is not positive.
        UnknownNameError: When a layer name is not registered.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_width: int = 16,
        depth: int = 4,
        norm: LayerSpec = "instance",
        activation: LayerSpec = "leaky_relu",
        residual: bool = False,
        se: bool = False,
        se_ratio: int = 16,
        upsample: LayerSpec = "trilinear",
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        for label, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("base_width", base_width),
            ("depth", depth),
        ):
            if value < 1:
                raise ValueError(f"UNet3D needs {label} >= 1, got {label}={value}.")
        self.in_channels = in_channels
        self.depth = depth
        self.checkpointing = checkpointing
        widths = [base_width * 2**level for level in range(depth + 1)]
        blocks = get_registry("block")

        def block(channels_in: int, channels_out: int) -> nn.Module:
            return blocks.build(
                "conv_block",
                in_channels=channels_in,
                out_channels=channels_out,
                norm=norm,
                activation=activation,
                residual=residual,
                se=se,
                se_ratio=se_ratio,
            )

        self.encoders = nn.ModuleList(
            [block(in_channels, widths[0])]
            + [block(widths[level - 1], widths[level]) for level in range(1, depth + 1)]
        )
        self.pool = nn.MaxPool3d(kernel_size=2)
        levels = list(reversed(range(depth)))
        self.upsamples = nn.ModuleList(
            make_layer(
                "upsample", upsample, in_channels=widths[level + 1], out_channels=widths[level]
            )
            for level in levels
        )
        self.decoders = nn.ModuleList(block(2 * widths[level], widths[level]) for level in levels)
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


_models = get_registry("model")


@_models.register("unet3d_residual_se", defaults={"residual": True, "se": True})
@_models.register("unet3d_residual", defaults={"residual": True})
@_models.register("unet3d")
def unet3d(
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    base_width: int = 16,
    depth: int = 4,
    norm: LayerSpec = "instance",
    activation: LayerSpec = "leaky_relu",
    residual: bool = False,
    se: bool = False,
    se_ratio: int = 16,
    upsample: LayerSpec = "trilinear",
    checkpointing: bool = False,
) -> nn.Module:
    """Build a :class:`UNet3D`; the named variants follow Table 1 of the paper.

    ``"unet3d"`` is the plain U-Net (Table 1 rows 1-3), ``"unet3d_residual"`` adds the
    residual connections (row 4) and ``"unet3d_residual_se"`` adds SE too (rows 5-6,
    the paper's final model). Every keyword can still be overridden.
    """
    return UNet3D(
        in_channels=in_channels,
        out_channels=out_channels,
        base_width=base_width,
        depth=depth,
        norm=norm,
        activation=activation,
        residual=residual,
        se=se,
        se_ratio=se_ratio,
        upsample=upsample,
        checkpointing=checkpointing,
    )

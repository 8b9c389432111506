"""Decoder up-sampling by name: trilinear interpolation (paper) or transposed convolution.

Why both: the paper (Dobshik et al. 2023, section 2.3) uses trilinear up-sampling
because it has no trainable parameters and saves memory, and reports results similar
to the more common transposed convolution, which stays as an ablation choice.

Either way the layer doubles every spatial size and maps ``in_channels`` to
``out_channels`` (the decoder halves the width at each level)::

    trilinear:  x ── conv 1x1x1 (in -> out) ── trilinear x2 ──> y
    transposed: x ── conv-transpose 2x2x2, stride 2 (in -> out) ──> y

The 1x1x1 convolution runs *before* the interpolation, at the coarse resolution, which
costs 8x fewer operations than after it (MONAI ``UpSample`` ``pre_conv`` does the same).
"""

from __future__ import annotations

from torch import nn

from data_pipeline.parts import NoParams, Params
from models.registry import UPSAMPLES

__all__ = ["transposed", "trilinear"]


class TrilinearParams(Params):
    align_corners: bool = False
    """Align the corner voxels of input and output (PyTorch's default: no)."""


@UPSAMPLES.register("trilinear", params=TrilinearParams)
def trilinear(params: TrilinearParams, *, in_channels: int, out_channels: int) -> nn.Module:
    """1x1x1 channel projection (skipped if the widths match), then trilinear x2."""
    project: nn.Module = (nn.Conv3d(in_channels, out_channels, kernel_size=1)
                          if in_channels != out_channels else nn.Identity())
    interpolate = nn.Upsample(scale_factor=2, mode="trilinear",
                              align_corners=params.align_corners)
    return nn.Sequential(project, interpolate)


@UPSAMPLES.register("transposed", params=NoParams)
def transposed(params: NoParams, *, in_channels: int, out_channels: int) -> nn.Module:
    """Transposed convolution, kernel 2 and stride 2: learned up-sampling (ablation)."""
    del params
    return nn.ConvTranspose3d(in_channels, out_channels, kernel_size=2, stride=2)

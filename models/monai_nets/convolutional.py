"""MONAI's convolutional 3D segmentation networks as model parts: BasicUNet, SegResNet, DynUNet.

Baselines for Table 1 (issue 24), each with MONAI 1.6.1's own defaults:

* ``monai_basicunet``: MONAI's basic U-Net (``monai.networks.nets.BasicUNet``), five
  levels of two conv-norm-activation layers, widths 32-32-64-128-256, deconvolution up.
* ``monai_segresnet``: SegResNet (Myronenko, BrainLes 2018, arXiv:1810.11654) without
  its VAE branch: residual group-norm blocks, 1-2-2-4 down and 1-1-1 up.
* ``monai_dynunet``: DynUNet, MONAI's re-implementation of nnU-Net's network (Isensee et
  al., Nature Methods 2021): kernels and strides from the patch size, widths
  32, 64, ... up to 320.

The platform's arguments (:data:`~models.monai_nets.common.FIXED`) are not parameters;
sizes each network cannot take are refused by name before Ray starts.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from torch import nn

from data_pipeline.parts import as_tuple
from models.monai_nets.common import (
    FIXED,
    LayerSpec,
    MonaiNetParams,
    Triplet,
    edges_divisible,
    need_patch_size,
    network_classes,
)
from models.registry import MODELS

__all__ = ["BasicUNetParams", "DynUNetParams", "SegResNetParams", "dynunet_plan"]

Count = Annotated[int, Field(ge=1)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class BasicUNetParams(MonaiNetParams):
    """``monai.networks.nets.BasicUNet``'s parameters (defaults: MONAI 1.6.1's)."""

    layers: ClassVar[dict[str, str]] = {"act": "Act", "norm": "Norm"}

    features: Annotated[tuple[Count, Count, Count, Count, Count, Count],
                        BeforeValidator(as_tuple)] = (32, 32, 64, 128, 256, 32)
    """Channels of the five encoder levels, then of the last decoder level (MONAI's)."""
    act: LayerSpec = ("LeakyReLU", {"negative_slope": 0.1, "inplace": True})
    """Activation (MONAI's: LeakyReLU, slope 0.1)."""
    norm: LayerSpec = ("instance", {"affine": True})
    """Normalization (MONAI's: affine instance norm)."""
    bias: bool = True
    """Convolution biases (MONAI's)."""
    dropout: Rate = 0.0
    """Dropout after each activation (MONAI's: none)."""
    upsample: Literal["deconv", "pixelshuffle", "nontrainable"] = "deconv"
    """Decoder up-sampling (MONAI's: transposed convolution)."""

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """Four 2x poolings must leave the bottleneck's instance norm two voxels or more."""
        deepest = [edge // 16 for edge in patch_size]
        if min(deepest) >= 1 and math.prod(deepest) >= 2:
            return None
        return ("after its four 2x poolings the bottleneck needs at least 2 voxels (each edge "
                f">= 16, one >= 32); got sampler.patch_size={list(patch_size)}")


@MODELS.register("monai_basicunet", params=BasicUNetParams)
def basicunet(params: BasicUNetParams, *, patch_size: Triplet | None = None) -> nn.Module:
    """MONAI's BasicUNet: 5 levels, LeakyReLU, instance norm, transposed convolutions."""
    nets = network_classes(params, patch_size, "monai_basicunet")
    net: nn.Module = nets.BasicUNet(**FIXED, **params.model_dump(mode="python"))
    return net


class SegResNetParams(MonaiNetParams):
    """``monai.networks.nets.SegResNet``'s parameters (defaults: MONAI 1.6.1's)."""

    layers: ClassVar[dict[str, str]] = {"act": "Act", "norm": "Norm"}

    init_filters: Count = 8
    """Channels of the first level, doubled at each down-sampling (MONAI's)."""
    dropout_prob: Rate | None = None
    """Dropout after the first convolution (MONAI's: none)."""
    act: LayerSpec = ("RELU", {"inplace": True})
    """Activation (MONAI's: ReLU)."""
    norm: LayerSpec = ("GROUP", {"num_groups": 8})
    """Normalization (MONAI's: group norm, 8 groups; ``init_filters`` must be a multiple)."""
    blocks_down: Annotated[tuple[Count, ...], BeforeValidator(as_tuple),
                           Field(min_length=1)] = (1, 2, 2, 4)
    """Residual blocks per encoder level; level ``i`` > 0 down-samples by 2 (MONAI's)."""
    blocks_up: Annotated[tuple[Count, ...], BeforeValidator(as_tuple)] = (1, 1, 1)
    """Residual blocks per decoder level, one fewer levels than ``blocks_down`` (MONAI's)."""
    upsample_mode: Literal["deconv", "nontrainable", "pixelshuffle"] = "nontrainable"
    """Decoder up-sampling (MONAI's: trilinear interpolation, ``nontrainable``)."""

    @model_validator(mode="after")
    def _levels_and_groups(self) -> SegResNetParams:
        if len(self.blocks_up) != len(self.blocks_down) - 1:
            raise ValueError(f"blocks_up needs one level fewer than blocks_down: got "
                             f"{len(self.blocks_up)} and {len(self.blocks_down)}")
        groups = self.norm[1].get("num_groups") if isinstance(self.norm, tuple) else None
        if isinstance(groups, int) and groups > 0 and self.init_filters % groups:
            raise ValueError(f"init_filters must be a multiple of the group norm's "
                             f"num_groups; got init_filters={self.init_filters}, "
                             f"num_groups={groups}")
        return self

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """Each down-sampling halves the patch exactly; the skips are added, not padded."""
        return edges_divisible(patch_size, 2 ** (len(self.blocks_down) - 1),
                               f"{len(self.blocks_down) - 1} 2x down-samplings")


@MODELS.register("monai_segresnet", params=SegResNetParams)
def segresnet(params: SegResNetParams, *, patch_size: Triplet | None = None) -> nn.Module:
    """MONAI's SegResNet without the VAE (Myronenko 2018; MONAI's defaults)."""
    nets = network_classes(params, patch_size, "monai_segresnet")
    net: nn.Module = nets.SegResNet(**FIXED, **params.model_dump(mode="python"),
                                            use_conv_final=True)
    return net


Edges = tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)],
              Annotated[int, Field(ge=1)]]
Levels = Annotated[tuple[Annotated[Edges, BeforeValidator(as_tuple)], ...],
                   BeforeValidator(as_tuple), Field(min_length=3)]


class DynUNetParams(MonaiNetParams):
    """``monai.networks.nets.DynUNet``'s parameters (defaults: MONAI 1.6.1's, or derived
    from the patch size where MONAI has none)."""

    layers: ClassVar[dict[str, str]] = {"act_name": "Act", "norm_name": "Norm"}

    kernel_size: Levels | None = None
    """Convolution kernel ``(D, H, W)`` per level; null: 3 everywhere (MONAI has no default;
    ours, after MONAI's DynUNet tutorial for equal spacing)."""
    strides: Levels | None = None
    """Stride ``(D, H, W)`` per level, the first ``(1, 1, 1)``; null: 2 along each axis
    while it stays even and >= 8 voxels, so the bottleneck keeps 4-7 (MONAI has no
    default; ours, after MONAI's tutorial). The up-sampling kernels are ``strides[1:]``."""
    filters: Annotated[tuple[Count, ...], BeforeValidator(as_tuple)] | None = None
    """Channels per level; null: MONAI's 32, 64, 128, 256, 320, 320, ..."""
    dropout: Rate | None = None
    """Dropout rate in each block (MONAI's: none)."""
    norm_name: LayerSpec = ("INSTANCE", {"affine": True})
    """Normalization (MONAI's: affine instance norm)."""
    act_name: LayerSpec = ("leakyrelu", {"inplace": True, "negative_slope": 0.01})
    """Activation (MONAI's: LeakyReLU, slope 0.01)."""
    res_block: bool = False
    """Residual blocks instead of plain ones (MONAI's: plain)."""
    trans_bias: bool = False
    """Biases of the transposed convolutions (MONAI's: none)."""

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """The strides must divide the patch; kernels, strides and filters count alike."""
        kernels, strides = dynunet_plan(self, patch_size)
        if len(strides) < 3:
            return (f"the patch allows only {len(strides) - 1} 2x down-sampling(s) and DynUNet "
                    f"needs at least 2: got sampler.patch_size={list(patch_size)}")
        counts = {"kernel_size": len(kernels), "strides": len(strides)}
        if self.filters is not None:
            counts["filters"] = len(self.filters)
        if len(set(counts.values())) > 1:
            return f"kernel_size, strides and filters need one entry per level; got {counts}"
        total = [math.prod(level[axis] for level in strides) for axis in range(3)]
        if any(edge % step for edge, step in zip(patch_size, total, strict=True)):
            return (f"the strides down-sample each axis by {total}, which must divide "
                    f"sampler.patch_size={list(patch_size)}")
        return None


def dynunet_plan(params: DynUNetParams, patch_size: Triplet
                 ) -> tuple[tuple[Triplet, ...], tuple[Triplet, ...]]:
    """``(kernel_size, strides)`` per level: the given ones, else derived from the patch."""
    strides: list[Triplet] = [(1, 1, 1)]
    sizes = list(patch_size)
    while params.strides is None:
        step = tuple(2 if size >= 8 and size % 2 == 0 else 1 for size in sizes)
        if step == (1, 1, 1):
            break
        strides.append((step[0], step[1], step[2]))
        sizes = [size // s for size, s in zip(sizes, step, strict=True)]
    planned = params.strides if params.strides is not None else tuple(strides)
    kernels = params.kernel_size if params.kernel_size is not None else \
        tuple((3, 3, 3) for _ in planned)
    return kernels, planned


@MODELS.register("monai_dynunet", params=DynUNetParams)
def dynunet(params: DynUNetParams, *, patch_size: Triplet | None = None) -> nn.Module:
    """MONAI's DynUNet (nnU-Net's network), kernels and strides planned from the patch.

    Isensee et al. (2021); MONAI's defaults otherwise."""
    size = need_patch_size("monai_dynunet", patch_size)
    nets = network_classes(params, size, "monai_dynunet")
    kernels, strides = dynunet_plan(params, size)
    chosen = params.model_dump(mode="python", exclude={"kernel_size", "strides"})
    net: nn.Module = nets.DynUNet(
        **FIXED, **chosen, kernel_size=kernels, strides=strides,
        upsample_kernel_size=strides[1:], deep_supervision=False)
    return net


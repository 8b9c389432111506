"""MONAI's transformer 3D segmentation networks as model parts: UNETR and SwinUNETR.

Baselines for Table 1 (issue 24), each with MONAI 1.6.1's own defaults:

* ``monai_unetr``: UNETR (Hatamizadeh et al., WACV 2022, arXiv:2103.10504): a ViT-B
  encoder over 16^3 tokens of the patch, a convolutional decoder. Its position
  embedding is learned for one input size, so ``img_size`` *is* the sampler's patch
  size (tiled inference feeds exactly that size).
* ``monai_swinunetr``: SwinUNETR (Hatamizadeh et al., BrainLes 2021, arXiv:2201.01266):
  a Swin transformer encoder (2^3 tokens, windows of 7) and a convolutional decoder;
  every patch edge must be a multiple of 32.

The platform's arguments (:data:`~models.monai_nets.common.FIXED`) are not parameters;
neither are SwinUNETR's token size (``patch_size``, 2: the name would read as the
sampler's, and 32 = 2**5 is what the size rule assumes), its ``norm_layer`` (a class) and
its experimental Hyena and flash-attention switches (left at MONAI's defaults, off).
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

__all__ = ["SwinUNETRParams", "UNETRParams"]

Count = Annotated[int, Field(ge=1)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
UNETR_TOKEN = 16
"""UNETR's token edge in voxels (MONAI fixes it at 16 for ``img_size``)."""
SWIN_DOWNSAMPLING = 32
"""SwinUNETR's total down-sampling: tokens of 2 voxels, then four 2x patch mergings."""


class UNETRParams(MonaiNetParams):
    """``monai.networks.nets.UNETR``'s parameters (defaults: MONAI 1.6.1's, a ViT-B)."""

    layers: ClassVar[dict[str, str]] = {"norm_name": "Norm"}

    feature_size: Count = 16
    """Channels of the decoder's first level (MONAI's)."""
    hidden_size: Count = 768
    """Width of the transformer (MONAI's: ViT-B's 768); a multiple of ``num_heads``."""
    mlp_dim: Count = 3072
    """Width of each transformer MLP (MONAI's: ViT-B's 3072)."""
    num_heads: Count = 12
    """Attention heads (MONAI's: ViT-B's 12)."""
    proj_type: Literal["conv", "perceptron"] = "conv"
    """Token embedding: a strided convolution or a linear layer (MONAI's: conv)."""
    norm_name: LayerSpec = "instance"
    """Normalization of the decoder (MONAI's: instance norm)."""
    conv_block: bool = True
    """Convolutional blocks in the skip paths (MONAI's)."""
    res_block: bool = True
    """Residual blocks in the decoder (MONAI's)."""
    dropout_rate: Rate = 0.0
    """Dropout in the transformer (MONAI's: none)."""
    qkv_bias: bool = False
    """Biases of the attention's query, key and value projections (MONAI's: none)."""

    @model_validator(mode="after")
    def _heads_split_the_width(self) -> UNETRParams:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size must be a multiple of num_heads; got hidden_size="
                             f"{self.hidden_size}, num_heads={self.num_heads}")
        return self

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """``img_size`` is the patch, cut into tokens of 16^3 voxels."""
        return edges_divisible(patch_size, UNETR_TOKEN, "UNETR's tokens are 16^3 voxels")


@MODELS.register("monai_unetr", params=UNETRParams)
def unetr(params: UNETRParams, *, patch_size: Triplet | None = None) -> nn.Module:
    """MONAI's UNETR (Hatamizadeh et al. 2022): a ViT-B encoder built for the patch size."""
    size = need_patch_size("monai_unetr", patch_size)
    nets = network_classes(params, size, "monai_unetr")
    net: nn.Module = nets.UNETR(**FIXED, **params.model_dump(mode="python"), img_size=size,
                                save_attn=False)
    return net


class SwinUNETRParams(MonaiNetParams):
    """``monai.networks.nets.SwinUNETR``'s parameters (defaults: MONAI 1.6.1's)."""

    layers: ClassVar[dict[str, str]] = {"norm_name": "Norm"}

    depths: Annotated[tuple[Count, Count, Count, Count], BeforeValidator(as_tuple)] = (
        2, 2, 2, 2)
    """Swin blocks in each of the four stages (MONAI's)."""
    num_heads: Annotated[tuple[Count, Count, Count, Count], BeforeValidator(as_tuple)] = (
        3, 6, 12, 24)
    """Attention heads in each stage (MONAI's)."""
    window_size: Count = 7
    """Edge of the attention windows, in tokens (MONAI's)."""
    qkv_bias: bool = True
    """Biases of the query, key and value projections (MONAI's)."""
    mlp_ratio: Annotated[float, Field(gt=0.0)] = 4.0
    """MLP width over the embedding width (MONAI's)."""
    feature_size: Annotated[int, Field(ge=12, multiple_of=12)] = 24
    """Embedding width of the first stage, a multiple of 12 (MONAI's: 24)."""
    norm_name: LayerSpec = "instance"
    """Normalization of the decoder (MONAI's: instance norm)."""
    drop_rate: Rate = 0.0
    """Dropout after the embedding and in the MLPs (MONAI's: none)."""
    attn_drop_rate: Rate = 0.0
    """Dropout of the attention weights (MONAI's: none)."""
    dropout_path_rate: Rate = 0.0
    """Stochastic depth (MONAI's: none)."""
    normalize: bool = True
    """Layer-normalize each stage's output before the decoder (MONAI's)."""
    patch_norm: bool = False
    """Layer-normalize the token embedding (MONAI's: no)."""
    use_checkpoint: bool = False
    """Recompute the transformer's activations in the backward pass (MONAI's: no)."""
    downsample: Literal["merging", "mergingv2"] = "merging"
    """Patch merging between stages (MONAI's: ``merging``)."""
    use_v2: bool = False
    """SwinUNETR-v2's residual convolution at the start of each stage (MONAI's: no)."""

    @model_validator(mode="after")
    def _heads_split_each_stage(self) -> SwinUNETRParams:
        widths = [self.feature_size * 2**stage for stage in range(4)]
        if any(width % heads for width, heads in zip(widths, self.num_heads, strict=True)):
            raise ValueError(f"each stage's width {widths} must be a multiple of its "
                             f"num_heads; got num_heads={list(self.num_heads)}")
        return self

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """Edges are multiples of 32; the bottleneck's instance norm needs 2 voxels."""
        problem = edges_divisible(patch_size, SWIN_DOWNSAMPLING,
                                  "2-voxel tokens, then four 2x patch mergings")
        if problem is None and math.prod(e // SWIN_DOWNSAMPLING for e in patch_size) < 2:
            return ("the bottleneck (1/32 of the patch) needs at least 2 voxels for its "
                    f"instance norm: one edge >= 64; got sampler.patch_size={list(patch_size)}")
        return problem


@MODELS.register("monai_swinunetr", params=SwinUNETRParams)
def swinunetr(params: SwinUNETRParams, *, patch_size: Triplet | None = None) -> nn.Module:
    """MONAI's SwinUNETR (Hatamizadeh et al. 2021): patch edges multiples of 32."""
    nets = network_classes(params, patch_size, "monai_swinunetr")
    net: nn.Module = nets.SwinUNETR(**FIXED, **params.model_dump(mode="python"), patch_size=2)
    return net

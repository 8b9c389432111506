"""Network blocks, one family per module; importing this package registers them all.

Registry kinds filled here: ``"norm"`` and ``"activation"`` (:mod:`.layers`),
``"upsample"`` (:mod:`.upsample`), ``"block"`` (:mod:`.squeeze_excitation`,
:mod:`.conv_block`).
"""

from __future__ import annotations

from models.blocks.conv_block import ConvBlock
from models.blocks.layers import LayerSpec, make_layer, split_spec
from models.blocks.squeeze_excitation import SqueezeExcitation
from models.blocks.upsample import transposed, trilinear

__all__ = [
    "ConvBlock",
    "LayerSpec",
    "SqueezeExcitation",
    "make_layer",
    "split_spec",
    "transposed",
    "trilinear",
]

"""Network blocks, one family per module; importing this package registers them all.

Registry kinds filled here: ``"norm"`` and ``"activation"`` (:mod:`.layers`),
``"upsample"`` (:mod:`.upsample`), ``"block"`` (:mod:`.conv_block`).
"""

from __future__ import annotations

from models.blocks.conv_block import ConvBlock, ConvBlockParams
from models.blocks.layers import ChannelsLastInstanceNorm3d
from models.blocks.squeeze_excitation import SqueezeExcitation
from models.blocks.upsample import transposed, trilinear

__all__ = [
    "ChannelsLastInstanceNorm3d",
    "ConvBlock",
    "ConvBlockParams",
    "SqueezeExcitation",
    "transposed",
    "trilinear",
]

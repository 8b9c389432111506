"""MONAI's 3D segmentation networks as model parts: the baselines of Table 1 (issue 24).

A baseline row differs from ours only in the network: it trains through the same loop,
sampler, loss, AMP and tiled inference. The parts, each with MONAI 1.6.1's own defaults
(``docs/baselines.md`` says what each network is and what it costs):

=====================  ==========================================================
``monai_basicunet``    ``BasicUNet`` (:mod:`~models.monai_nets.convolutional`)
``monai_segresnet``    ``SegResNet``
``monai_dynunet``      ``DynUNet`` (nnU-Net's network), planned from the patch size
``monai_unetr``        ``UNETR`` (:mod:`~models.monai_nets.transformers`)
``monai_swinunetr``    ``SwinUNETR``
=====================  ==========================================================

Importing this package registers them (``models/__init__.py`` does); MONAI itself is
imported only when a network is built (:mod:`~models.monai_nets.common`).
"""

from __future__ import annotations

from models.monai_nets import convolutional, transformers  # noqa: F401 -- registers the parts

__all__: list[str] = []

"""Channel Squeeze-and-Excitation (SE) for 3D feature maps.

Dobshik et al. (2023, section 2.3, after Hu et al. 2018, arXiv:1709.01507) insert SE in
every convolutional block so that the network can stress the channels that respond to
the lesion and damp the others::

    x (B, C, D, H, W) ──┬──────────────────────────────────────────── (*) ──> y
                        └─ avg pool ─ linear C->C/r ─ ReLU ─ linear C/r->C ─ sigmoid ─┘
                           (B, C)       (B, C/r)              (B, C)      s in (0, 1)

``y[b, c] = s[b, c] * x[b, c]``. The cost is two tiny linear layers and one pass over the
feature map; the paper's reduction ratio is ``r = 16``. With fewer than ``r`` channels
the hidden width is clamped to 1 (MONAI ``ChannelSELayer`` refuses that case instead),
so that small test networks still build.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """Rescale each channel by a gate computed from the global average of all channels.

    Args:
        channels: Number of channels ``C`` of the feature map.
        ratio: Reduction ratio ``r``; the hidden width is ``max(1, C // r)``.

    Raises:
        ValueError: When ``channels`` or ``ratio`` is not positive.
    """

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        if channels < 1 or ratio < 1:
            raise ValueError(
                f"SE needs channels >= 1 and ratio >= 1, got channels={channels} ratio={ratio}."
            )
        hidden = max(1, channels // ratio)
        self.channels = channels
        self.hidden = hidden
        self.squeeze = nn.AdaptiveAvgPool3d(1)
        self.excite = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the channels of ``x``.

        Args:
            x: Feature map ``(B, C, D, H, W)``.

        Returns:
            ``(B, C, D, H, W)``, each channel multiplied by its gate in ``(0, 1)``.
        """
        batch, channels = x.shape[:2]
        gate = self.excite(self.squeeze(x).view(batch, channels))
        return x * gate.view(batch, channels, 1, 1, 1)

"""Tests for models/blocks/upsample.py: both up-samplings double the size and map channels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.registry import UPSAMPLES


def _upsample(name: str, **structural: int) -> nn.Module:
    return UPSAMPLES.create(UPSAMPLES.spec(name), **structural)


@pytest.mark.parametrize("name", ["trilinear", "transposed"])
def test_upsample_doubles_size_and_maps_channels(name: str) -> None:
    layer = _upsample(name, in_channels=8, out_channels=4)
    assert layer(torch.randn(2, 8, 3, 4, 5)).shape == (2, 4, 6, 8, 10)


def test_trilinear_projects_then_interpolates() -> None:
    layer = _upsample("trilinear", in_channels=4, out_channels=2)
    assert isinstance(layer, nn.Sequential)
    x = torch.randn(1, 4, 3, 3, 3)
    expected = F.interpolate(layer[0](x), scale_factor=2, mode="trilinear", align_corners=False)
    torch.testing.assert_close(layer(x), expected)


def test_trilinear_without_channel_change_has_no_parameters() -> None:
    layer = _upsample("trilinear", in_channels=4, out_channels=4)
    assert sum(p.numel() for p in layer.parameters()) == 0


def test_align_corners_reaches_the_interpolation() -> None:
    layer = UPSAMPLES.create(UPSAMPLES.spec("trilinear", {"align_corners": True}),
                             in_channels=2, out_channels=2)
    assert layer[1].align_corners is True

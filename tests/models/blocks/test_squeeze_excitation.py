"""Tests for models/blocks/squeeze_excitation.py: a hand computation and MONAI's ChannelSELayer."""

from __future__ import annotations

import math

import pytest
import torch
from monai.networks.blocks import ChannelSELayer

from models.blocks.squeeze_excitation import SqueezeExcitation


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_se_equals_hand_computation() -> None:
    # Two channels of 2x2x2 voxels: channel means 1.0 and 3.0; r=2 -> one hidden unit.
    x = torch.tensor([[1.0, 0.0, 2.0, 1.0, 1.0, 0.0, 2.0, 1.0], [3.0] * 8]).view(1, 2, 2, 2, 2)
    se = SqueezeExcitation(channels=2, ratio=2)
    assert se.hidden == 1
    with torch.no_grad():
        se.excite[0].weight.copy_(torch.tensor([[0.5, -0.25]]))
        se.excite[0].bias.copy_(torch.tensor([1.0]))
        se.excite[2].weight.copy_(torch.tensor([[2.0], [-1.0]]))
        se.excite[2].bias.copy_(torch.tensor([0.0, 0.5]))
    # hidden = relu(0.5*1 - 0.25*3 + 1) = 0.75; gates = sigmoid(1.5), sigmoid(-0.25)
    gates = [_sigmoid(2.0 * 0.75 + 0.0), _sigmoid(-1.0 * 0.75 + 0.5)]
    expected = torch.stack([x[0, 0] * gates[0], x[0, 1] * gates[1]])[None]
    torch.testing.assert_close(se(x), expected)


def test_se_negative_hidden_is_cut_by_relu() -> None:
    x = torch.full((1, 2, 2, 2, 2), 4.0)
    se = SqueezeExcitation(channels=2, ratio=2)
    with torch.no_grad():
        se.excite[0].weight.fill_(-1.0)
        se.excite[0].bias.zero_()
        se.excite[2].weight.fill_(5.0)
        se.excite[2].bias.fill_(0.0)
    # relu(-8) = 0 -> every gate is sigmoid(0) = 0.5
    torch.testing.assert_close(se(x), x * 0.5)


@pytest.mark.parametrize("channels,ratio", [(32, 16), (64, 16), (16, 4)])
def test_se_matches_monai_channel_se_layer(channels: int, ratio: int) -> None:
    ours = SqueezeExcitation(channels, ratio)
    theirs = ChannelSELayer(spatial_dims=3, in_channels=channels, r=ratio)
    mapping = {f"fc.{k.split('.', 1)[1]}": v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(mapping)
    x = torch.randn(2, channels, 5, 6, 7)
    torch.testing.assert_close(ours(x), theirs(x))


def test_se_tiny_channel_count_keeps_one_hidden_unit() -> None:
    se = SqueezeExcitation(4, 16)
    assert se.hidden == 1
    assert se(torch.randn(1, 4, 3, 3, 3)).shape == (1, 4, 3, 3, 3)


def test_se_rejects_zero_ratio() -> None:
    with pytest.raises(ValueError, match="ratio=0"):
        SqueezeExcitation(8, 0)

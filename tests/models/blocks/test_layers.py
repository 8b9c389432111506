"""Tests for models/blocks/layers.py: named norms and activations with their parameters."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from data_pipeline.parts import ParamsError, UnknownNameError
from models.blocks.layers import ChannelsLastInstanceNorm3d
from models.registry import ACTIVATIONS, NORMS


def _norm(name: str, channels: int, **params: object) -> nn.Module:
    return NORMS.create(NORMS.spec(name, params), channels=channels)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("instance", nn.InstanceNorm3d), ("batch", nn.BatchNorm3d), ("group", nn.GroupNorm),
     ("none", nn.Identity)],
)
def test_norm_names(name: str, expected: type) -> None:
    layer = _norm(name, 8)
    assert type(layer) is expected
    assert layer(torch.randn(2, 8, 3, 3, 3)).shape == (2, 8, 3, 3, 3)


@pytest.mark.parametrize(
    ("name", "params", "attribute", "value"),
    [
        ("instance", {"affine": False}, "affine", False),
        ("instance", {"eps": 1e-3}, "eps", 1e-3),
        ("batch", {"momentum": 0.5}, "momentum", 0.5),
        ("batch", {"eps": 1e-3}, "eps", 1e-3),
        ("group", {"num_groups": 2}, "num_groups", 2),
        ("group", {"eps": 1e-3}, "eps", 1e-3),
    ],
)
def test_norm_parameters_reach_the_layer(name, params, attribute, value) -> None:
    assert getattr(_norm(name, 8), attribute) != value
    assert getattr(_norm(name, 8, **params), attribute) == value


def test_instance_norm_is_affine_and_group_norm_caps_its_groups() -> None:
    assert _norm("instance", 4).affine
    assert _norm("group", 4).num_groups == 4


def test_group_norm_indivisible_channels_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="channels=12 num_groups=8"):
        _norm("group", 12)


def test_activation_names_and_parameters() -> None:
    leaky = ACTIVATIONS.create(ACTIVATIONS.spec("leaky_relu"))
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.01 and leaky.inplace
    slope = ACTIVATIONS.create(ACTIVATIONS.spec("leaky_relu", {"negative_slope": 0.1,
                                                                "inplace": False}))
    assert (slope.negative_slope, slope.inplace) == (0.1, False)
    relu = ACTIVATIONS.create(ACTIVATIONS.spec("relu", {"inplace": False}))
    assert isinstance(relu, nn.ReLU) and not relu.inplace


def test_bad_choices_name_the_part() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'instance'"):
        NORMS.spec("instanse")
    with pytest.raises(ParamsError, match="unknown parameter 'channels'"):
        NORMS.spec("batch", {"channels": 3})  # structural: the network sets it


@pytest.mark.parametrize("affine", [True, False])
def test_channels_last_instance_norm_equals_instance_norm(affine: bool) -> None:
    norm = nn.InstanceNorm3d(4, affine=affine)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
    x = torch.randn(2, 4, 5, 6, 7).contiguous(memory_format=torch.channels_last_3d)
    ours = ChannelsLastInstanceNorm3d(norm)(x)
    torch.testing.assert_close(ours, norm(x), atol=1e-5, rtol=1e-5)
    assert ours.is_contiguous(memory_format=torch.channels_last_3d)


def test_channels_last_instance_norm_refuses_running_statistics() -> None:
    with pytest.raises(ValueError, match="running statistics"):
        ChannelsLastInstanceNorm3d(nn.InstanceNorm3d(4, track_running_stats=True))


def test_channels_last_instance_norm_gradients_equal_torch() -> None:
    reference = nn.InstanceNorm3d(4, affine=True)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 2.0)
        reference.bias.uniform_(-1.0, 1.0)
    fast = ChannelsLastInstanceNorm3d(copy.deepcopy(reference))
    x = (torch.randn(2, 4, 6, 7, 5) * 3 + 1).contiguous(memory_format=torch.channels_last_3d)
    upstream = torch.randn(2, 4, 6, 7, 5)
    grads = []
    for norm in (reference, fast):
        leaf = x.clone().requires_grad_(True)
        (norm(leaf) * upstream).sum().backward()
        grads.append((leaf.grad, norm.weight.grad, norm.bias.grad))
    for ours, torchs in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours, torchs, atol=1e-5, rtol=1e-5)

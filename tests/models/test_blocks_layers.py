"""Tests for models/blocks/layers.py: named norms and activations, layer specs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.blocks.layers import make_layer, split_spec
from models.registry import UnknownNameError


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("instance", nn.InstanceNorm3d),
        ("batch", nn.BatchNorm3d),
        ("group", nn.GroupNorm),
        ("none", nn.Identity),
    ],
)
def test_norm_names(spec: str, expected: type) -> None:
    layer = make_layer("norm", spec, channels=8)
    assert type(layer) is expected
    assert layer(torch.randn(2, 8, 3, 3, 3)).shape == (2, 8, 3, 3, 3)


def test_instance_norm_is_affine() -> None:
    layer = make_layer("norm", "instance", channels=4)
    assert isinstance(layer, nn.InstanceNorm3d) and layer.affine


def test_group_norm_options_from_the_spec() -> None:
    layer = make_layer("norm", ("group", {"num_groups": 2}), channels=8)
    assert isinstance(layer, nn.GroupNorm) and layer.num_groups == 2
    assert make_layer("norm", "group", channels=4).num_groups == 4


def test_group_norm_indivisible_channels_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="channels=12 num_groups=8"):
        make_layer("norm", "group", channels=12)


def test_activation_names() -> None:
    leaky = make_layer("activation", "leaky_relu")
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.01
    assert isinstance(make_layer("activation", "relu"), nn.ReLU)
    slope = make_layer("activation", ("leaky_relu", {"negative_slope": 0.1}))
    assert slope.negative_slope == 0.1


def test_structural_arguments_win_over_spec_options() -> None:
    layer = make_layer("norm", ("batch", {"channels": 3}), channels=5)
    assert layer.num_features == 5


def test_bad_specs() -> None:
    with pytest.raises(TypeError, match="name or a \\(name, \\{kwargs\\}\\) pair"):
        split_spec(("group",))  # type: ignore[arg-type]  # the wrong shape on purpose
    with pytest.raises(UnknownNameError, match="Did you mean 'instance'"):
        make_layer("norm", "instanse", channels=4)

"""Tests for data_pipeline/augmentations.py: every parameter reaches the TorchIO transform."""

from __future__ import annotations

import pytest
import torch
import torchio as tio

from data_pipeline.augmentations import AUGMENTATIONS, compose_augmentations
from data_pipeline.parts import ParamsError


def _built(name: str, params: dict) -> tio.Transform:
    return AUGMENTATIONS.create(AUGMENTATIONS.spec(name, params))


@pytest.mark.parametrize(
    ("name", "params", "attribute", "expected"),
    [
        ("flip", {"axes": [0, 1]}, "axes", (0, 1)),
        ("flip", {"flip_probability": 1.0}, "flip_probability", 1.0),
        ("flip", {"p": 0.3}, "probability", 0.3),
        ("affine", {"scales": 0.2}, "scales", (0.8, 1.2) * 3),
        ("affine", {"degrees": 5.0}, "degrees", (-5.0, 5.0) * 3),
        ("affine", {"translation": 2.0}, "translation", (-2.0, 2.0) * 3),
        ("affine", {"isotropic": True}, "isotropic", True),
        ("elastic", {"num_control_points": 5}, "num_control_points", (5, 5, 5)),
        ("elastic", {"max_displacement": 3.0}, "max_displacement", (3.0, 3.0, 3.0)),
        ("elastic", {"locked_borders": 1}, "num_locked_borders", 1),
        ("gamma", {"log_gamma": 0.1}, "log_gamma_range", (-0.1, 0.1)),
    ],
)
def test_each_parameter_reaches_torchio(name, params, attribute, expected) -> None:
    default = getattr(_built(name, {}), attribute)
    chosen = getattr(_built(name, params), attribute)
    assert chosen == pytest.approx(expected)
    assert chosen != default


def test_defaults_are_torchio_s_except_the_flip_axis() -> None:
    ours, theirs = _built("affine", {}), tio.RandomAffine()
    assert (ours.scales, ours.degrees) == (theirs.scales, theirs.degrees)
    assert _built("flip", {}).axes == (2,)  # left-right; TorchIO's default flips axis 0


def test_a_flip_with_probability_one_mirrors_the_chosen_axis() -> None:
    image = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    subject = tio.Subject(image=tio.ScalarImage(tensor=image))
    flipped = _built("flip", {"axes": [2], "flip_probability": 1.0})(subject)
    assert torch.equal(flipped["image"].data, image.flip(3))


def test_compose_keeps_order_and_none_means_no_transform() -> None:
    assert compose_augmentations(()) is None
    specs = (AUGMENTATIONS.spec("gamma"), AUGMENTATIONS.spec("flip"))
    composed = compose_augmentations(specs)
    assert [type(t).__name__ for t in composed.transforms] == ["RandomGamma", "RandomFlip"]


def test_a_misspelt_parameter_gets_a_did_you_mean() -> None:
    with pytest.raises(ParamsError, match="did you mean 'flip_probability'"):
        AUGMENTATIONS.spec("flip", {"flip_probabilty": 1.0})

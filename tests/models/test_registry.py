"""Tests for models/registry.py: the network's kinds, their contracts and a lab's own part."""

from __future__ import annotations

import pytest
import torch

import models
from data_pipeline.parts import NoParams, Params, ParamsError, UnknownNameError
from data_pipeline.parts.registry import registry
from models.registry import KINDS, LOSSES, MODELS


def test_every_kind_has_a_registry_with_names_and_a_contract() -> None:
    for kind in KINDS:
        assert registry(kind).kind == kind
        assert registry(kind).names(), f"no {kind} registered"
        assert registry(kind).contract.startswith("builder(params")


def test_unknown_names_and_parameters_are_explained() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'bce_dice'") as caught:
        models.build_loss("bce_dise")
    assert "Known loss names: bce_dice, dice, focal, weighted_bce_dice." in str(caught.value)
    with pytest.raises(ParamsError, match="unknown parameter 'gamma'") as bad:
        models.build_loss("bce_dice", gamma=2.0)
    assert bad.value.accepted == ("eps=1e-05", "batch_dice=true")


def test_parameters_go_inside_a_spec_not_beside_it() -> None:
    with pytest.raises(TypeError, match="inside the spec"):
        models.build_model(MODELS.spec("unet3d"), base_width=4)


class ScaleParams(Params):
    scale: float = 1.0
    """Multiplies the L1 distance."""


def test_lab_registers_a_loss_with_the_decorator() -> None:
    @LOSSES.register("lab_l1", params=ScaleParams, defaults={"scale": 2.0})
    def lab_l1(params: ScaleParams, *, class_counts: tuple[int, int] | None) -> torch.nn.Module:
        del class_counts

        class L1(models.losses.SegmentationLoss):
            def compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                return params.scale * (torch.sigmoid(logits) - target).abs().mean()

        return L1()

    try:
        loss = models.build_loss("lab_l1")
        assert float(loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2))) == 1.0
    finally:
        LOSSES.unregister("lab_l1")
    assert "lab_l1" not in LOSSES


def test_builder_returning_the_wrong_type_is_named() -> None:
    MODELS.register("not_a_module", params=NoParams)(lambda params, *, patch_size: "oops")
    try:
        with pytest.raises(TypeError, match="'not_a_module' returned str"):
            models.build_model("not_a_module")
    finally:
        MODELS.unregister("not_a_module")


def test_a_lab_activation_is_usable_inside_the_network() -> None:
    registry("activation").register("lab_gelu", params=NoParams)(
        lambda params: torch.nn.GELU())
    try:
        net = models.build_model("unet3d", base_width=2, depth=1, activation="lab_gelu")
        assert any(isinstance(m, torch.nn.GELU) for m in net.modules())
    finally:
        registry("activation").unregister("lab_gelu")

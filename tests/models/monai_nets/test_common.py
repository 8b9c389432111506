"""What the MONAI parts share: fixed arguments, the MONAI import and the size rules."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from models import build_model, network_problem
from models.monai_nets import common
from models.monai_nets.common import (
    FIXED,
    edges_divisible,
    need_patch_size,
    network_classes,
)
from models.monai_nets.convolutional import SegResNetParams
from models.registry import MODELS

MONAI_PARTS = ["monai_basicunet", "monai_dynunet", "monai_segresnet", "monai_swinunetr",
               "monai_unetr"]


def test_every_monai_part_is_registered_with_the_platforms_arguments_fixed() -> None:
    assert [n for n in MODELS.names() if n.startswith("monai_")] == MONAI_PARTS
    assert FIXED == {"spatial_dims": 3, "in_channels": 1, "out_channels": 1}
    for name in MONAI_PARTS:
        assert not set(FIXED) & set(MODELS.entry(name).params.model_fields)


def test_a_missing_monai_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "monai.networks.nets", None)  # import now fails
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[monai\]'"):
        build_model("monai_segresnet")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    problem = network_problem(MODELS.spec("monai_segresnet"), (32, 32, 32))
    assert problem == "needs MONAI, which is not installed: pip install -e '.[monai]'"


def test_layer_names_are_checked_against_monais_factories() -> None:
    assert SegResNetParams(norm="Batch", act=("prelu", {})).build_problem((32, 32, 32)) is None
    problem = SegResNetParams(act="relu6x").build_problem((32, 32, 32))
    assert problem is not None and problem.startswith("act: MONAI has no Act layer 'relu6x'")
    assert "relu6" in problem


def test_size_rules_name_the_sampler_setting() -> None:
    assert edges_divisible((32, 64, 96), 32, "why") is None
    assert edges_divisible((32, 64, 80), 32, "why") == (
        "every patch edge must be a multiple of 32 (why); got sampler.patch_size=[32, 64, 80]")
    with pytest.raises(ValueError, match="model 'monai_segresnet': every patch edge"):
        network_classes(SegResNetParams(), (30, 32, 32), "monai_segresnet")
    assert network_classes(SegResNetParams(), None, "monai_segresnet") is \
        sys.modules["monai.networks.nets"]


def test_a_part_built_for_one_size_needs_it() -> None:
    assert need_patch_size("x", (8, 8, 8)) == (8, 8, 8)
    with pytest.raises(TypeError, match="model 'x' is built for one patch size"):
        need_patch_size("x", None)
    assert common.INSTALL == "pip install -e '.[monai]'"

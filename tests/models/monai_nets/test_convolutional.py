"""MONAI's BasicUNet, SegResNet and DynUNet as model parts (issue 24)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from monai.networks import nets

from data_pipeline.parts import ParamsError
from models import build_model, network_problem
from models.monai_nets.convolutional import (
    BasicUNetParams,
    DynUNetParams,
    SegResNetParams,
    dynunet_plan,
)
from models.registry import MODELS
from tests.models.monai_nets.harness import signature_mismatches, train_and_segment

PLATFORM = {"spatial_dims", "in_channels", "out_channels"}


@pytest.mark.parametrize(("network", "params", "fixed"), [
    (nets.BasicUNet, BasicUNetParams, PLATFORM),
    # use_conv_final makes the one output channel; norm_name / num_groups: deprecated
    (nets.SegResNet, SegResNetParams, PLATFORM | {"use_conv_final", "norm_name", "num_groups"}),
    # one output for our losses: no deep supervision; up-sampling kernels = strides[1:]
    (nets.DynUNet, DynUNetParams,
     PLATFORM | {"upsample_kernel_size", "deep_supervision", "deep_supr_num"}),
], ids=["basicunet", "segresnet", "dynunet"])
def test_params_match_monai_161s_signature(network: type, params: type, fixed: set[str]) -> None:
    assert signature_mismatches(network, params, fixed) == []


TOY: dict[str, dict[str, Any]] = {
    "monai_basicunet": {"features": [4, 4, 8, 16, 16, 4]},
    "monai_segresnet": {"init_filters": 4, "norm": ["group", {"num_groups": 2}]},
    "monai_dynunet": {"filters": [4, 8, 16, 16]},
}


@pytest.mark.parametrize("name", sorted(TOY))
def test_trains_two_iterations_and_segments_through_the_trials_path(
        name: str, phantom: Any, cases: list[Any], tmp_path: Any) -> None:
    network, events, mask = train_and_segment({"name": name, **TOY[name]}, (32, 32, 32),
                                              cases, phantom.hu, tmp_path)
    assert {e.iteration for e in events} == {1, 2}
    assert any(e.checkpoint_dir is not None for e in events)
    assert all(np.isfinite(e.loss) for e in events)
    assert mask.shape == phantom.hu.shape and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1}
    assert type(network).__name__ == {"monai_basicunet": "BasicUNet",
                                      "monai_segresnet": "SegResNet",
                                      "monai_dynunet": "DynUNet"}[name]


def test_the_networks_are_monais_with_one_logit_channel() -> None:
    segresnet = build_model("monai_segresnet", init_filters=4, norm="instance")
    basic = build_model("monai_basicunet", features=[4, 4, 8, 16, 16, 4],
                        upsample="nontrainable")
    assert isinstance(segresnet, nets.SegResNet) and isinstance(basic, nets.BasicUNet)
    for net in (segresnet, basic):
        assert net(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 1, 32, 32, 32)
    with pytest.raises(RuntimeError):  # two channels in: the platform feeds one
        segresnet(torch.zeros(1, 2, 32, 32, 32))


@pytest.mark.parametrize(("name", "wrong", "suggestion"), [
    ("monai_segresnet", "init_filter", "init_filters"),
    ("monai_basicunet", "feature", "features"),
    ("monai_dynunet", "filtres", "filters"),
])
def test_unknown_parameters_are_refused_by_name(name: str, wrong: str, suggestion: str) -> None:
    with pytest.raises(ParamsError) as caught:
        MODELS.spec(name, {wrong: 4})
    message = str(caught.value)
    assert f"unknown parameter {wrong!r}" in message and f"did you mean {suggestion!r}" in message


@pytest.mark.parametrize(("params", "expected"), [
    ({"blocks_up": [1]}, "blocks_up needs one level fewer than blocks_down"),
    ({"init_filters": 12}, "init_filters must be a multiple of the group norm's num_groups"),
])
def test_segresnet_shapes_that_cannot_build_are_refused(params: dict[str, Any],
                                                        expected: str) -> None:
    with pytest.raises(ParamsError, match=expected):
        MODELS.spec("monai_segresnet", params)


def test_the_platforms_arguments_are_not_parameters() -> None:
    for name in ("monai_basicunet", "monai_segresnet", "monai_dynunet"):
        for fixed in ("in_channels", "out_channels", "spatial_dims"):
            with pytest.raises(ParamsError, match=f"unknown parameter {fixed!r}"):
                MODELS.spec(name, {fixed: 1})


@pytest.mark.parametrize(("name", "params", "patch", "expected"), [
    ("monai_basicunet", {}, (32, 32, 32), None),
    ("monai_basicunet", {}, (16, 16, 32), None),
    ("monai_basicunet", {}, (16, 16, 16), "bottleneck needs at least 2 voxels"),
    ("monai_segresnet", {}, (40, 48, 56), None),
    ("monai_segresnet", {}, (36, 48, 56), "multiple of 8"),
    ("monai_segresnet", {"blocks_down": [1, 2], "blocks_up": [1]}, (36, 48, 56), None),
    ("monai_segresnet", {"blocks_down": [1, 2], "blocks_up": [1]}, (36, 48, 55), "multiple of 2"),
    ("monai_segresnet", {"norm": "grop"}, (32, 32, 32), "no Norm layer 'grop'"),
    ("monai_dynunet", {}, (4, 4, 4), "needs at least 2"),
    ("monai_dynunet", {"filters": [8, 16]}, (32, 32, 32), "one entry per level"),
    ("monai_dynunet", {"strides": [[1, 1, 1], [2, 2, 2], [4, 2, 2]]}, (36, 32, 24),
     "down-sample each axis by [8, 4, 4]"),
])
def test_patch_sizes_a_network_cannot_take_are_named(name: str, params: dict[str, Any],
                                                     patch: tuple[int, int, int],
                                                     expected: str | None) -> None:
    spec = MODELS.spec(name, params)
    problem = network_problem(spec, patch)
    assert problem is None if expected is None else expected in (problem or "")
    if expected is not None:
        with pytest.raises(ValueError, match=f"model {name!r}"):
            build_model(spec, patch_size=patch)


@pytest.mark.parametrize(("patch", "strides"), [
    ((128, 128, 128), [(1, 1, 1)] + [(2, 2, 2)] * 5),
    ((32, 32, 24), [(1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 1)]),
    ((36, 64, 8), [(1, 1, 1), (2, 2, 2), (2, 2, 1), (1, 2, 1), (1, 2, 1)]),
])
def test_dynunet_plans_strides_from_the_patch(patch: tuple[int, int, int],
                                              strides: list[tuple[int, int, int]]) -> None:
    kernels, planned = dynunet_plan(DynUNetParams(), patch)
    assert list(planned) == strides and kernels == ((3, 3, 3),) * len(strides)
    net = build_model("monai_dynunet", patch_size=patch, filters=[2] * len(strides))
    assert [tuple(s) for s in net.strides] == strides
    assert [tuple(s) for s in net.upsample_kernel_size] == strides[1:]


def test_dynunet_cannot_be_built_without_the_patch_size() -> None:
    with pytest.raises(TypeError, match="pass build_model\\(..., patch_size="):
        build_model("monai_dynunet")

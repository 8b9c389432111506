"""MONAI's UNETR and SwinUNETR as model parts (issue 24): sizes fixed by the patch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from monai.networks import nets

from data_pipeline.parts import ParamsError
from models import build_model, network_problem
from models.monai_nets.transformers import SwinUNETRParams, UNETRParams
from models.registry import MODELS
from platform.config import ConfigError
from platform.config.trial import TrialConfig
from tests.models.monai_nets.harness import signature_mismatches, train_and_segment

PLATFORM = {"spatial_dims", "in_channels", "out_channels"}
SWIN_LEFT_AT_MONAIS = {
    "patch_size",  # the token size, 2: 2**5 = 32 is what the size rule assumes
    "norm_layer",  # a class, not a YAML value
    "use_flash_attention", "use_hyena", "hyena_stages", "hyena_kernel_size",
    "hyena_kernel_mlp_dim", "hyena_kernel_layers", "hyena_mask_max_attenuation",
    "hyena_fft_padding", "hyena_grid_type", "hyena_use_chunked_fft",
    "hyena_use_fft_short_conv", "hyena_omega_0", "hyena_l_cache",
    "hyena_short_conv_fft_chunks",
}


@pytest.mark.parametrize(("network", "params", "fixed"), [
    (nets.UNETR, UNETRParams, PLATFORM | {"img_size", "save_attn"}),  # img_size: the patch
    (nets.SwinUNETR, SwinUNETRParams, PLATFORM | SWIN_LEFT_AT_MONAIS),
], ids=["unetr", "swinunetr"])
def test_params_match_monai_161s_signature(network: type, params: type, fixed: set[str]) -> None:
    assert signature_mismatches(network, params, fixed) == []


TOY: dict[str, tuple[dict[str, Any], tuple[int, int, int]]] = {
    "monai_unetr": ({"feature_size": 4, "hidden_size": 48, "mlp_dim": 96, "num_heads": 4},
                    (32, 32, 32)),
    "monai_swinunetr": ({"feature_size": 12, "depths": [1, 1, 1, 1], "window_size": 4},
                        (32, 32, 64)),
}


@pytest.mark.parametrize("name", sorted(TOY))
def test_trains_two_iterations_and_segments_through_the_trials_path(
        name: str, phantom: Any, cases: list[Any], tmp_path: Any) -> None:
    params, patch = TOY[name]
    network, events, mask = train_and_segment({"name": name, **params}, patch, cases,
                                              phantom.hu, tmp_path)
    assert {e.iteration for e in events} == {1, 2} and all(np.isfinite(e.loss) for e in events)
    assert mask.shape == phantom.hu.shape and set(np.unique(mask)) <= {0, 1}
    assert isinstance(network, nets.UNETR if name == "monai_unetr" else nets.SwinUNETR)


def test_unetr_is_built_for_the_samplers_patch_and_only_takes_that_size() -> None:
    params, _ = TOY["monai_unetr"]
    net = build_model("monai_unetr", patch_size=(16, 32, 48), **params)
    assert tuple(net.feat_size) == (1, 2, 3)  # img_size in 16^3 tokens
    assert net(torch.zeros(1, 1, 16, 32, 48)).shape == (1, 1, 16, 32, 48)
    with pytest.raises(RuntimeError):  # the position embedding fits one size only
        net(torch.zeros(1, 1, 32, 32, 32))
    with pytest.raises(TypeError, match="pass build_model\\(..., patch_size="):
        build_model("monai_unetr", **params)


@pytest.mark.parametrize(("name", "params", "patch", "expected"), [
    ("monai_unetr", {}, (128, 128, 128), None),
    ("monai_unetr", {}, (96, 96, 40), "multiple of 16"),
    ("monai_unetr", {"norm_name": "instanse"}, (32, 32, 32), "no Norm layer 'instanse'"),
    ("monai_swinunetr", {}, (128, 128, 128), None),
    ("monai_swinunetr", {}, (32, 32, 64), None),
    ("monai_swinunetr", {}, (96, 96, 80), "multiple of 32"),
    ("monai_swinunetr", {}, (32, 32, 32), "at least 2 voxels"),
])
def test_patch_sizes_a_network_cannot_take_are_named(name: str, params: dict[str, Any],
                                                     patch: tuple[int, int, int],
                                                     expected: str | None) -> None:
    problem = network_problem(MODELS.spec(name, params), patch)
    assert problem is None if expected is None else expected in (problem or "")


def test_a_sweep_with_a_patch_the_network_cannot_take_is_refused_before_ray() -> None:
    config = TrialConfig.model_validate({"model": "monai_swinunetr",
                                         "sampler": {"patch_size": [64, 64, 64]}})
    with pytest.raises(ConfigError) as caught:
        config.with_overrides({"sampler.patch_size": [96, 96, 80]}, source="override")
    assert "override: model: every patch edge must be a multiple of 32" in str(caught.value)
    assert "sampler.patch_size=[96, 96, 80]" in str(caught.value)


@pytest.mark.parametrize(("name", "wrong", "suggestion"), [
    ("monai_unetr", "hidden_sise", "hidden_size"),
    ("monai_swinunetr", "feature_sizes", "feature_size"),
    ("monai_swinunetr", "img_size", None),  # gone in MONAI 1.5: sizes come from the patch
])
def test_unknown_parameters_are_refused_by_name(name: str, wrong: str,
                                                suggestion: str | None) -> None:
    with pytest.raises(ParamsError, match=f"unknown parameter {wrong!r}") as caught:
        MODELS.spec(name, {wrong: 4})
    if suggestion is not None:
        assert f"did you mean {suggestion!r}" in str(caught.value)


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("monai_swinunetr", {"feature_size": 16}, "multiple of 12"),
    ("monai_swinunetr", {"num_heads": [3, 6, 12, 25]}, "multiple of its num_heads"),
    ("monai_unetr", {"num_heads": 5}, "hidden_size must be a multiple of num_heads"),
])
def test_widths_the_heads_cannot_split_are_refused(name: str, params: dict[str, Any],
                                                   expected: str) -> None:
    with pytest.raises(ParamsError, match=expected):
        MODELS.spec(name, params)

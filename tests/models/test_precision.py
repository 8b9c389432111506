"""Tests for models/precision.py: autocast dtype choice and the channels_last_3d layout."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
from torch import nn

import models
from models.precision import channels_last_copy


def test_autocast_dtype_is_none_on_cpu_and_when_switched_off() -> None:
    assert models.autocast_dtype("cpu") is None
    assert models.autocast_dtype(torch.device("cpu")) is None
    assert models.autocast_dtype("cuda", enabled=False) is None


def test_float16_where_bfloat16_is_only_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A T4 or V100 answers is_bf16_supported() with True through emulation: use fp16."""
    asked: list[bool] = []

    def supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return including_emulation  # emulated only, as on sm_75

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    monkeypatch.setattr(torch.cuda, "device", lambda device: nullcontext())
    assert models.autocast_dtype("cuda") == torch.float16
    assert asked == [False]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert models.autocast_dtype("cuda") == torch.bfloat16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autocast_dtype_on_gpu_prefers_native_bf16() -> None:
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    assert models.autocast_dtype("cuda") == (torch.bfloat16 if native else torch.float16)


def test_channels_last_copy_gives_the_same_logits_and_shares_parameters() -> None:
    net = models.build_model("unet3d_residual_se", base_width=4, depth=2).eval()
    x = torch.randn(2, 1, 16, 16, 16)
    with torch.no_grad():
        expected = net(x)
        fast = channels_last_copy(net)
        x_last = x.contiguous(memory_format=torch.channels_last_3d)
        assert fast.head.weight.is_contiguous(memory_format=torch.channels_last_3d)
        assert not any(type(m) is nn.InstanceNorm3d for m in fast.modules())
        torch.testing.assert_close(fast(x_last), expected, atol=1e-4, rtol=1e-4)

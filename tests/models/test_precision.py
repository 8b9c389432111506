"""Tests for models/precision.py: autocast dtype choice and the channels_last_3d layout."""

from __future__ import annotations

import pytest
import torch

import models


def test_autocast_dtype_is_none_on_cpu() -> None:
    assert models.autocast_dtype("cpu") is None
    assert models.autocast_dtype(torch.device("cpu")) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autocast_dtype_on_gpu_prefers_bf16() -> None:
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    expected = torch.bfloat16 if native else torch.float16
    assert models.autocast_dtype("cuda") == expected


def test_channels_last_3d_gives_the_same_logits() -> None:
    net = models.build_model("unet3d_residual_se", base_width=4, depth=2).eval()
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        expected = net(x)
        fast = models.to_channels_last(net)
        x_last = models.to_channels_last(x)
        assert x_last.is_contiguous(memory_format=torch.channels_last_3d)
        assert fast.head.weight.is_contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(fast(x_last), expected, atol=1e-4, rtol=1e-4)

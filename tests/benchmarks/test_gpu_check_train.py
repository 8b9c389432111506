"""The GPU check's training helpers: the channels-last norm swap keeps every network's output,
and a non-finite loss never poses as a measurement."""

from __future__ import annotations

import pytest
import torch
from gpu_check_train import NETWORKS, _judge_loss, build_network

from models.blocks.layers import ChannelsLastInstanceNorm3d
from models.precision import swap_instance_norms


@pytest.mark.parametrize("name", NETWORKS)
def test_swapping_instance_norms_keeps_the_output(name: str) -> None:
    torch.manual_seed(0)
    net = build_network(name, width=2).eval()
    norms = sum(type(m) is torch.nn.InstanceNorm3d for m in net.modules())
    x = torch.rand(2, 1, 32, 32, 32)
    with torch.no_grad():
        expected = net(x)
        assert swap_instance_norms(net) == norms > 0
        assert not any(type(m) is torch.nn.InstanceNorm3d for m in net.modules())
        assert any(isinstance(m, ChannelsLastInstanceNorm3d) for m in net.modules())
        net = net.to(memory_format=torch.channels_last_3d)
        got = net(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def _row(loss: float, dtype: str) -> dict:
    return {"network": "basicunet", "mode": "autocast", "dtype": dtype, "loss": loss}


def test_a_finite_loss_is_kept() -> None:
    assert _judge_loss(_row(0.5, "bfloat16"), torch.device("cpu")) == _row(0.5, "bfloat16")


def test_a_nan_loss_is_an_error_on_cuda_and_in_float32() -> None:
    on_cuda = _judge_loss(_row(float("nan"), "bfloat16"), torch.device("cuda"))
    assert "non-finite loss" in on_cuda["error"]
    assert "error" in _judge_loss(_row(float("inf"), "float32"), torch.device("cpu"))


def test_a_nan_loss_under_cpu_bf16_is_marked_not_measured() -> None:
    row = _judge_loss(_row(float("nan"), "bfloat16"), torch.device("cpu"))
    assert row["loss"] is None and "CPU bf16" in row["loss_note"] and "error" not in row

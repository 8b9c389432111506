"""The GPU check's training helpers: the channels-last norm swap keeps every network's output."""

from __future__ import annotations

import pytest
import torch
from gpu_check_train import NETWORKS, build_network

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

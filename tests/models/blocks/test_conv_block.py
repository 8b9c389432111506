"""Tests for models/blocks/conv_block.py: layer order, residual path, SE placement."""

from __future__ import annotations

import torch
from torch import nn

from models.blocks.conv_block import ConvBlock, ConvBlockParams
from models.blocks.squeeze_excitation import SqueezeExcitation


def test_plain_block_is_two_conv_norm_act_layers() -> None:
    block = ConvBlock(2, 4, ConvBlockParams())
    kinds = [type(m) for m in block.body]
    assert kinds == [nn.Conv3d, nn.InstanceNorm3d, nn.LeakyReLU] * 2
    assert block.projection is None
    assert block(torch.randn(2, 2, 6, 5, 4)).shape == (2, 4, 6, 5, 4)


def test_se_sits_at_the_end_of_the_convolution_branch() -> None:
    block = ConvBlock(2, 4, ConvBlockParams(se=True, se_ratio=2))
    assert isinstance(block.body[-1], SqueezeExcitation)
    assert block.body[-1].hidden == 2


def test_residual_path_changes_the_output_and_carries_gradient() -> None:
    block = ConvBlock(3, 8, ConvBlockParams(residual=True))
    assert isinstance(block.projection, nn.Conv3d)
    assert block.projection.kernel_size == (1, 1, 1)
    x = torch.randn(2, 3, 6, 6, 6)
    out = block(x)
    torch.testing.assert_close(out, block.body(x) + block.projection(x))
    assert not torch.allclose(out, block.body(x))
    out.square().mean().backward()
    grad = block.projection.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_residual_path_alone_reaches_the_input() -> None:
    # With the convolution branch cut off, gradient flows to x only through the projection.
    block = ConvBlock(3, 8, ConvBlockParams(residual=True))
    for param in block.body.parameters():
        param.requires_grad_(False)
    with torch.no_grad():
        block.body[3].weight.zero_()  # second norm's scale: the branch outputs act(bias) only
        block.body[3].bias.zero_()
    x = torch.randn(1, 3, 4, 4, 4, requires_grad=True)
    block(x).sum().backward()
    expected = block.projection.weight.sum(dim=0).view(3, 1, 1, 1).expand(3, 4, 4, 4)
    torch.testing.assert_close(x.grad[0], expected)

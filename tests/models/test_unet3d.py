"""Tests for models/unet3d.py: shapes, every knob, residual/SE wiring, precision, docs counts."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import models
from models.blocks.conv_block import ConvBlock
from models.blocks.squeeze_excitation import SqueezeExcitation
from models.unet3d import UNet3D, UNet3DParams, pad_to_multiple

TABLE1 = ["unet3d", "unet3d_residual", "unet3d_residual_se"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


@pytest.mark.parametrize(
    "shape,depth",
    [
        ((1, 1, 17, 20, 33), 4),
        ((2, 1, 5, 7, 9), 4),
        ((1, 1, 32, 32, 32), 4),
        ((1, 1, 1, 1, 1), 4),
        ((1, 1, 31, 15, 3), 2),
        ((1, 1, 48, 40, 24), 3),
    ],
)
def test_output_shape_matches_any_input_shape(shape: tuple[int, ...], depth: int) -> None:
    net = models.build_model("unet3d_residual_se", base_width=4, depth=depth).eval()
    with torch.no_grad():
        assert net(torch.randn(shape)).shape == shape


def test_padding_does_not_change_an_already_aligned_input() -> None:
    x = torch.randn(1, 1, 32, 32, 32)
    assert pad_to_multiple(x, 16, 32) is x
    padded = pad_to_multiple(torch.ones(1, 1, 17, 5, 32), 16, 32)
    assert padded.shape == (1, 1, 32, 32, 32)
    assert padded.sum() == 17 * 5 * 32, "padding must be zeros"


def _forward_backward(net: nn.Module, batch: int = 2, size: int = 32) -> None:
    logits = net(torch.randn(batch, 1, size, size, size))
    assert logits.shape == (batch, 1, size, size, size)
    target = (torch.rand_like(logits) > 0.9).float()
    loss = models.build_loss("bce_dice")(logits, target)
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize("name", TABLE1)
def test_table1_variants_train_on_32_cubed_at_full_depth(name: str) -> None:
    net = models.build_model(name, base_width=8)
    blocks = [m for m in net.modules() if isinstance(m, ConvBlock)]
    assert len(blocks) == 9
    assert all((b.projection is not None) == (name != "unet3d") for b in blocks)
    assert all(isinstance(b.body[-1], SqueezeExcitation) == name.endswith("_se") for b in blocks)
    _forward_backward(net)


KNOBS = list(
    itertools.product(
        ["instance", "batch", "group", "none"],
        ["leaky_relu", "relu"],
        [False, True],
        [False, True],
        ["trilinear", "transposed"],
    )
)


@pytest.mark.parametrize("norm,activation,residual,se,upsample", KNOBS)
def test_every_knob_combination_trains(
    norm: str, activation: str, residual: bool, se: bool, upsample: str
) -> None:
    net = models.build_model(
        "unet3d",
        base_width=4,
        depth=3,
        norm=norm,
        activation=activation,
        residual=residual,
        se=se,
        upsample=upsample,
    )
    _forward_backward(net)


def test_residual_connections_change_the_output_and_carry_gradient() -> None:
    net = models.build_model("unet3d_residual", base_width=4, depth=2)
    x = torch.randn(1, 1, 16, 16, 16)
    net(x).square().mean().backward()
    projections = [m.projection for m in net.modules() if isinstance(m, ConvBlock)]
    assert len(projections) == 5
    for projection in projections:
        assert projection.weight.grad.abs().sum() > 0
    with torch.no_grad():
        before = net(x)
        for projection in projections:
            projection.weight.zero_()
            projection.bias.zero_()
        assert not torch.allclose(before, net(x))


def test_se_ratio_reaches_every_block() -> None:
    net = models.build_model("unet3d_residual_se", base_width=16, depth=2, se_ratio=8)
    hidden = {(m.channels, m.hidden) for m in net.modules() if isinstance(m, SqueezeExcitation)}
    assert hidden == {(16, 2), (32, 4), (64, 8)}


def test_named_variants_accept_overrides() -> None:
    net = models.build_model("unet3d_residual_se", se=False, base_width=2, depth=1)
    assert not any(isinstance(m, SqueezeExcitation) for m in net.modules())


def test_checkpointing_gives_the_same_output_and_gradients() -> None:
    plain = models.build_model("unet3d_residual_se", base_width=4, depth=2)
    ckpt = models.build_model("unet3d_residual_se", base_width=4, depth=2, checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 16, 16, 16)
    out_plain, out_ckpt = plain(x), ckpt(x)
    torch.testing.assert_close(out_ckpt, out_plain)
    out_plain.sum().backward()
    out_ckpt.sum().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, msg=name)


def test_wrong_input_layout_is_explained() -> None:
    net = UNet3D(UNet3DParams(base_width=2, depth=1))
    with pytest.raises(ValueError, match=r"expects \(B, 1, D, H, W\), got shape \(8, 8, 8\)"):
        net(torch.zeros(8, 8, 8))
    with pytest.raises(ValueError, match="got shape \\(1, 2, 8, 8, 8\\)"):
        net(torch.zeros(1, 2, 8, 8, 8))
    with pytest.raises(ValueError, match="base_width: input should be greater than or equal"):
        models.build_model("unet3d", base_width=0)


def test_runs_under_cpu_bf16_autocast() -> None:
    net = models.build_model("unet3d_residual_se", base_width=4, depth=2)
    x = torch.randn(2, 1, 16, 16, 16)
    target = (torch.rand_like(x) > 0.8).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(x)
        loss = models.build_loss("weighted_bce_dice", class_counts=(99, 1))(logits, target)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    with torch.no_grad():
        torch.testing.assert_close(logits.float(), net(x), atol=0.1, rtol=0.1)


def _documented_counts() -> dict[str, int]:
    rows = re.findall(r"^\|\s*`(unet3d\w*)`\s*\|[^|]*\|\s*([\d,]+)\s*\|", DOCS.read_text(), re.M)
    return {name: int(count.replace(",", "")) for name, count in rows}


def test_docs_print_the_parameter_count_of_every_table1_variant() -> None:
    documented = _documented_counts()
    assert set(documented) == set(TABLE1)
    for name, count in documented.items():
        net = models.build_model(name)
        assert sum(p.numel() for p in net.parameters()) == count, name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_amp_channels_last_training_step_on_gpu() -> None:
    device = torch.device("cuda")
    dtype = models.autocast_dtype(device)
    assert dtype in (torch.bfloat16, torch.float16)
    net = models.build_model("unet3d_residual_se", base_width=8).to(device)
    net = net.to(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 1, 64, 64, 64, device=device).contiguous(
        memory_format=torch.channels_last_3d)
    target = (torch.rand_like(x) > 0.9).float()
    with torch.no_grad():
        reference = net(x)
    optimizer = models.build_optimizer("adam", net.parameters())
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    with torch.autocast("cuda", dtype=dtype):
        logits = net(x)
        loss = models.build_loss("bce_dice")(logits, target)
    assert logits.dtype == dtype and loss.dtype == torch.float32
    torch.testing.assert_close(logits.float(), reference, atol=0.1, rtol=0.1)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    assert all(torch.isfinite(p).all() for p in net.parameters())

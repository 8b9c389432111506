"""One test over every registered name of every kind (like timm's test over list_models).

A part registered later (by us or by a plugin) is exercised here without a new test.
Cross-cutting (every registry of ``models/``), so it mirrors no single module.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import models
from data_pipeline.parts.registry import registry
from models.registry import ACTIVATIONS, BLOCKS, KINDS, NORMS, UPSAMPLES

TOY_MODELS: dict[str, tuple[dict[str, object], tuple[int, int, int]]] = {
    "monai_basicunet": ({"features": [2, 2, 4, 4, 8, 2]}, (16, 16, 32)),
    "monai_dynunet": ({"filters": [2, 4, 4]}, (12, 16, 8)),
    "monai_segresnet": ({"init_filters": 2, "norm": "instance"}, (16, 16, 8)),
    "monai_swinunetr": ({"feature_size": 12, "depths": [1, 1, 1, 1], "window_size": 2},
                        (32, 32, 64)),
    "monai_unetr": ({"feature_size": 2, "hidden_size": 8, "mlp_dim": 8, "num_heads": 2},
                    (16, 16, 32)),
}
"""Toy sizes of the networks that are not our U-Net (its own: width 4, depth 2)."""


def _model(name: str) -> None:
    params, patch = TOY_MODELS.get(name, ({"base_width": 4, "depth": 2}, (12, 16, 8)))
    net = models.build_model(name, patch_size=patch, **params)
    out = net(torch.randn(2, 1, *patch))
    assert out.shape == (2, 1, *patch)
    out.mean().backward()


def _block(name: str) -> None:
    block = BLOCKS.create(BLOCKS.spec(name), in_channels=2, out_channels=4)
    assert block(torch.randn(2, 2, 4, 4, 4)).shape == (2, 4, 4, 4, 4)


def _norm(name: str) -> None:
    x = torch.randn(2, 8, 3, 3, 3)
    assert NORMS.create(NORMS.spec(name), channels=8)(x).shape == x.shape


def _activation(name: str) -> None:
    x = torch.linspace(-2, 2, 9)
    y = ACTIVATIONS.create(ACTIVATIONS.spec(name))(x.clone())
    assert y.shape == x.shape and torch.all(y[x > 0] == x[x > 0])


def _upsample(name: str) -> None:
    layer = UPSAMPLES.create(UPSAMPLES.spec(name), in_channels=8, out_channels=4)
    assert layer(torch.randn(1, 8, 2, 3, 4)).shape == (1, 4, 4, 6, 8)


def _loss(name: str) -> None:
    loss_fn = models.build_loss(name, class_counts=(900, 100))
    logits = torch.randn(2, 1, 4, 4, 4, requires_grad=True)
    target = (torch.rand(2, 1, 4, 4, 4) > 0.8).float()
    loss = loss_fn(logits, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    perfect = loss_fn(target * 40 - 20, target)
    assert perfect.item() < loss.item(), "a perfect prediction must cost less"


def _optimizer(name: str) -> None:
    param = nn.Parameter(torch.ones(3))
    optimizer = models.build_optimizer(name, [param])
    param.square().sum().backward()
    optimizer.step()
    assert torch.all(param < 1)


def _schedule(name: str) -> None:
    optimizer = models.build_optimizer("adam", [nn.Parameter(torch.ones(1))])
    schedule = models.build_schedule(name, optimizer)
    optimizer.step()
    schedule.step()
    assert 0 < schedule.get_last_lr()[0] <= 1e-4


EXERCISES: dict[str, Callable[[str], None]] = {
    "model": _model,
    "block": _block,
    "norm": _norm,
    "activation": _activation,
    "upsample": _upsample,
    "loss": _loss,
    "optimizer": _optimizer,
    "schedule": _schedule,
}


def test_every_kind_has_an_exercise() -> None:
    assert set(EXERCISES) == set(KINDS)


@pytest.mark.parametrize("kind,name", [(kind, name) for kind in KINDS
                                       for name in registry(kind).names()])
def test_registered_name_builds_and_works(kind: str, name: str) -> None:
    EXERCISES[kind](name)

"""Tests for models/optim.py: the paper's Adam and its step-halving schedule."""

from __future__ import annotations

import pytest
import torch

import models
from models.optim import StepHalvingLR


def _optimizer(**kwargs: float) -> torch.optim.Optimizer:
    return models.build_optimizer("adam", [torch.zeros(3, requires_grad=True)], **kwargs)


def test_adam_has_the_paper_defaults() -> None:
    optimizer = _optimizer()
    assert isinstance(optimizer, torch.optim.Adam)
    group = optimizer.param_groups[0]
    assert group["lr"] == 1e-4 and group["weight_decay"] == 1e-5
    assert _optimizer(lr=3e-4).param_groups[0]["lr"] == 3e-4


def test_step_halving_hits_the_paper_rates_at_the_right_iterations() -> None:
    optimizer = _optimizer()
    schedule = models.build_schedule("step_halving", optimizer)
    seen: dict[int, float] = {}
    optimizer.step()
    for iteration in range(40_001):
        seen[iteration] = optimizer.param_groups[0]["lr"]
        schedule.step()
    expected = {
        0: 1e-4,
        4_999: 1e-4,
        5_000: 5e-5,
        9_999: 5e-5,
        10_000: 2.5e-5,
        14_999: 2.5e-5,
        15_000: 1.25e-5,
        20_000: 1.25e-5,
        39_999: 1.25e-5,
        40_000: 1.25e-5,
    }
    for iteration, lr in expected.items():
        assert seen[iteration] == pytest.approx(lr, rel=1e-12), iteration
    assert min(seen.values()) == pytest.approx(1.25e-5, rel=1e-12)
    assert len({round(v, 12) for v in seen.values()}) == 4


def test_schedule_resumes_exactly_from_its_state() -> None:
    optimizer = _optimizer()
    schedule = models.build_schedule("step_halving", optimizer)
    optimizer.step()
    for _ in range(9_999):
        schedule.step()
    state = schedule.state_dict()
    resumed_optimizer = _optimizer()
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed = models.build_schedule("step_halving", resumed_optimizer)
    resumed.load_state_dict(state)
    schedule.step()
    resumed.step()
    assert resumed.get_last_lr() == schedule.get_last_lr() == pytest.approx([2.5e-5])


def test_each_parameter_group_has_its_own_floor() -> None:
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    optimizer = torch.optim.Adam(
        [{"params": [params[0]], "lr": 1e-4}, {"params": [params[1]], "lr": 1e-5}]
    )
    schedule = StepHalvingLR(optimizer, every=2, factor=0.5, min_lr=1.25e-5)
    optimizer.step()
    for _ in range(10):
        schedule.step()
    assert schedule.get_last_lr() == pytest.approx([1.25e-5, 1e-5])


def test_constant_schedule_holds_the_rate() -> None:
    optimizer = _optimizer(lr=2e-4)
    schedule = models.build_schedule("constant", optimizer)
    optimizer.step()
    for _ in range(100):
        schedule.step()
    assert schedule.get_last_lr() == [2e-4]


def test_bad_schedule_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="factor: input should be less than 1"):
        models.build_schedule("step_halving", _optimizer(), factor=1.5)
    with pytest.raises(ValueError, match="factor=1.5"):  # the class checks its own arguments
        StepHalvingLR(_optimizer(), every=10, factor=1.5, min_lr=0.0)

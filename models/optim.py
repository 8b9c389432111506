"""Optimizers and learning-rate schedules by name (registry kinds ``"optimizer"``, ``"schedule"``).

Dobshik et al. (2023, section 2.5): Adam, initial learning rate 1e-4, L2 weight decay
1e-5, the learning rate halved every 5,000 iterations until it reaches 1.25e-5, then
held, for 40,000 iterations. Schedules here are stepped once per *iteration* (one
optimizer step), never per epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import torch
from pydantic import BeforeValidator, Field
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, LRScheduler

from data_pipeline.parts import NoParams, Params, as_tuple
from models.registry import OPTIMIZERS, SCHEDULES

__all__ = ["AdamParams", "StepHalvingLR", "StepHalvingParams"]

Beta = Annotated[float, Field(ge=0.0, lt=1.0)]


class AdamParams(Params):
    lr: Annotated[float, Field(gt=0.0)] = 1.0e-4
    """Initial learning rate (paper: 1e-4)."""
    weight_decay: Annotated[float, Field(ge=0.0)] = 1.0e-5
    """L2 penalty added to the gradient, as in the paper (not AdamW's decoupled decay)
    (paper: 1e-5)."""
    betas: Annotated[tuple[Beta, Beta], BeforeValidator(as_tuple)] = (0.9, 0.999)
    """Decay rates of the moment estimates (the paper does not say: PyTorch's default)."""
    eps: Annotated[float, Field(gt=0.0)] = 1.0e-8
    """Added to the denominator (PyTorch's default)."""


class StepHalvingParams(Params):
    every: Annotated[int, Field(ge=1)] = 5000
    """Iterations between two reductions (paper: 5000)."""
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    """Multiplier per reduction (paper: halved)."""
    min_lr: Annotated[float, Field(ge=0.0)] = 1.25e-5
    """Floor at which the rate is then held (paper: 1.25e-5)."""


@OPTIMIZERS.register("adam", params=AdamParams)
def adam(params: AdamParams, *,
         parameters: Iterable[torch.Tensor] | Iterable[dict[str, Any]]) -> Optimizer:
    """Adam with L2 weight decay, the paper's optimizer."""
    return torch.optim.Adam(parameters, lr=params.lr, weight_decay=params.weight_decay,
                            betas=params.betas, eps=params.eps)


class StepHalvingLR(LRScheduler):
    """Multiply the learning rate by ``factor`` every ``every`` iterations, down to ``min_lr``.

    ``lr(t) = max(base_lr * factor ** (t // every), min(min_lr, base_lr))``. With the
    paper's values: 1e-4 for iterations 0-4,999, 5e-5 from 5,000, 2.5e-5 from 10,000,
    1.25e-5 from 15,000 on. A closed form (not a chain of multiplications), so resuming
    from a checkpoint at any iteration gives exactly the same rate.

    Args:
        optimizer: The optimizer whose parameter groups are scheduled.
        every: Iterations between two reductions.
        factor: Multiplier per reduction, in ``(0, 1)``.
        min_lr: Floor at which the rate is held.
        last_epoch: Index of the last iteration done (``-1``: starting fresh).

    Raises:
        ValueError: When ``every < 1``, ``factor`` is outside ``(0, 1)`` or ``min_lr < 0``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        every: int,
        factor: float,
        min_lr: float,
        last_epoch: int = -1,
    ) -> None:
        if every < 1 or not 0.0 < factor < 1.0 or min_lr < 0:
            raise ValueError(
                f"StepHalvingLR needs every >= 1, 0 < factor < 1 and min_lr >= 0, got "
                f"every={every} factor={factor} min_lr={min_lr}."
            )
        self.every = every
        self.factor = factor
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float | torch.Tensor]:
        """The rate of every parameter group at iteration ``self.last_epoch``."""
        steps = max(self.last_epoch, 0) // self.every
        return [max(base * self.factor**steps, min(self.min_lr, base)) for base in self.base_lrs]


@SCHEDULES.register("step_halving", params=StepHalvingParams)
def step_halving(params: StepHalvingParams, *, optimizer: Optimizer) -> LRScheduler:
    """The paper's schedule: halve every 5,000 iterations down to 1.25e-5, then hold."""
    return StepHalvingLR(optimizer, every=params.every, factor=params.factor,
                         min_lr=params.min_lr)


@SCHEDULES.register("constant", params=NoParams)
def constant(params: NoParams, *, optimizer: Optimizer) -> LRScheduler:
    """Keep the optimizer's learning rate (ablation, smoke tests)."""
    del params
    return ConstantLR(optimizer, factor=1.0, total_iters=0)

"""Issue 28: a NaN or diverging loss stops a training for good, with its reason.

The guard (:class:`platform.trial.stops.DivergenceGuard`) on loss sequences it must and
must not stop, then the real training loop stopped by it with its last good checkpoint
kept, and the errors' fields surviving pickle and copy.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from platform.config.trial import TrainConfig
from platform.trial.stops import (
    DivergenceGuard,
    DivergingLossError,
    NonFiniteLossError,
    TrainingStopped,
)
from platform.trial.training import CHECKPOINT_FILE, TrainingParts, load_checkpoint, train


def _first_stop(guard: DivergenceGuard, losses: list[float]) -> int | None:
    """The iteration (1-based) at which ``guard`` stops ``losses``, or None."""
    for iteration, loss in enumerate(losses, start=1):
        try:
            guard.check(iteration, loss)
        except DivergingLossError as err:
            assert err.iteration == iteration
            return iteration
    return None


def test_a_jump_stops_at_the_iteration_it_happens() -> None:
    losses = [1.4, 1.2, 1.3, 1.1, 1.6e11, 3e11]
    assert _first_stop(DivergenceGuard(100.0, 50), losses) == 5


def test_a_jump_on_the_second_iteration_is_caught() -> None:
    assert _first_stop(DivergenceGuard(100.0, 50), [1.4, 9.6e10]) == 2


def test_a_steady_climb_past_the_factor_over_a_window_stops() -> None:
    climb = [1.25**i for i in range(200)]  # x1.25 per iteration: x264 per 25 iterations
    stopped = _first_stop(DivergenceGuard(100.0, 25), climb)
    assert stopped is not None and stopped < 80


def test_the_spread_of_patch_losses_is_not_divergence() -> None:
    # Mostly empty patches (tiny losses) and now and then a lesion patch 50x higher,
    # on a falling trend: a real training's curve, never stopped.
    generator = torch.Generator().manual_seed(0)
    losses = []
    for i in range(3000):
        trend = 1.0 / (1 + i / 100)
        lesion = torch.rand(1, generator=generator).item() < 0.15
        spread = 0.5 + torch.rand(1, generator=generator).item()
        losses.append(trend * (1.0 if lesion else 0.02) * spread)
    assert _first_stop(DivergenceGuard(100.0, 50), losses) is None


def test_the_guard_switched_off_never_stops() -> None:
    assert _first_stop(DivergenceGuard(None, 50), [1.0, 1e30, 1e300]) is None


def _batches(seed: int) -> Iterator[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        image = torch.rand(2, 1, 8, 8, 8, generator=generator)
        yield {"image": image, "lesion": (image > 0.7).float()}


def _parts(lr: float) -> TrainingParts:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.LeakyReLU(),
                                torch.nn.Conv3d(4, 1, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    return TrainingParts(model, torch.nn.MSELoss(), optimizer, schedule)


def _train(tmp_path: Path, lr: float, **settings: object) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(_parts(lr), _batches, TrainConfig(**settings), device=torch.device("cpu"),
              checkpoint_dir=tmp_path, on_progress=lambda progress: None)
    finally:
        torch.set_num_threads(before)


def test_the_loop_stops_a_diverging_loss_and_keeps_the_last_good_checkpoint(
        tmp_path: Path) -> None:
    # SGD at lr=2 on a squared error: 0.39, 5.7, 15, 214, 141, 5.9e5, 1.2e17, inf, nan.
    with pytest.raises(DivergingLossError, match=r"^diverging loss at iteration 6 ") as err:
        _train(tmp_path, 2.0, iterations=40, checkpoint_every=2, log_every=2,
               divergence_factor=100.0, divergence_window=2)
    assert math.isfinite(err.value.recent)
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] < err.value.iteration  # written before the bad losses only
    assert math.isfinite(state["last_loss"])
    parts = _parts(2.0)
    assert load_checkpoint(tmp_path, model=parts.model, optimizer=parts.optimizer,
                           schedule=parts.schedule) == state["iteration"]


def test_with_the_guard_off_the_same_run_ends_on_a_non_finite_loss(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError) as err:
        _train(tmp_path, 2.0, iterations=40, checkpoint_every=2, log_every=2,
               divergence_factor=None)
    assert err.value.iteration == 8  # the first inf
    assert err.value.reason.startswith("non-finite loss at iteration 8 ")


@pytest.mark.parametrize("error", [
    NonFiniteLossError(7, math.nan, 0.5), NonFiniteLossError(1, math.inf, None),
    DivergingLossError(12, 3e9, 1.5, 100.0), TrainingStopped("stopped earlier"),
])
def test_each_stop_pickles_and_copies_with_its_reason(error: TrainingStopped) -> None:
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(twin) is type(error)
        assert str(twin) == str(error) and twin.reason == error.reason
        assert {k: str(v) for k, v in vars(twin).items()} == \
            {k: str(v) for k, v in vars(error).items()}

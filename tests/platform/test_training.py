"""The training loop: checkpoint-resume equals an uninterrupted run; NaN stops it cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from platform.training import (
    CHECKPOINT_FILE,
    NonFiniteLossError,
    load_checkpoint,
    segment_seed,
    train,
)

torch.set_num_threads(1)


def _batches(seed: int) -> Iterator[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        image = torch.rand(2, 1, 8, 8, 8, generator=generator)
        yield {"image": image, "lesion": (image > 0.7).float()}


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.LeakyReLU(), torch.nn.Conv3d(4, 1, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    return model, optimizer, schedule


def _run(tmp: Path, iterations: int, *, start: int = 0, parts=None, events=None):
    model, optimizer, schedule = parts or _parts()
    train(
        model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule, _batches,
        iterations=iterations, seed=7, device=torch.device("cpu"), amp="auto",
        checkpoint_dir=tmp, checkpoint_every=5, log_every=2,
        on_progress=(events.append if events is not None else lambda p: None),
        start_iteration=start,
    )
    return model, optimizer, schedule


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    straight, _, _ = _run(tmp_path / "a", 15)
    _run(tmp_path / "b", 10)  # "crashes" after its checkpoint at iteration 10
    parts = _parts(seed=123)  # a fresh process would build different initial weights
    start = load_checkpoint(tmp_path / "b", model=parts[0], optimizer=parts[1], schedule=parts[2])
    assert start == 10
    resumed, optimizer, schedule = _run(tmp_path / "b", 15, start=start, parts=parts)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert schedule.last_epoch == 15
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**3)


def test_checkpoint_loads_with_weights_only(tmp_path):
    _run(tmp_path, 5)
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 5
    assert set(state) >= {"model", "optimizer", "schedule", "torch_rng", "last_loss"}


def test_progress_reports_loss_lr_and_checkpoints(tmp_path):
    events = []
    _run(tmp_path, 10, events=events)
    assert [e.iteration for e in events] == [2, 4, 5, 6, 8, 10]
    assert [e.iteration for e in events if e.checkpoint_dir] == [5, 10]
    assert all(e.loss > 0 and e.lr > 0 and e.iterations_per_s > 0 for e in events)


def test_nan_loss_stops_with_reason_and_keeps_last_good_checkpoint(tmp_path):
    model, optimizer, schedule = _parts()
    calls = {"n": 0}

    def loss_fn(logits, target):
        calls["n"] += 1
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return loss * float("nan") if calls["n"] == 7 else loss

    with pytest.raises(NonFiniteLossError, match=r"iteration 7 \(last finite loss: [0-9.]+\)"):
        train(
            model, loss_fn, optimizer, schedule, _batches, iterations=20, seed=7,
            device=torch.device("cpu"), checkpoint_dir=tmp_path, checkpoint_every=5,
            log_every=100, on_progress=lambda p: None,
        )
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 5
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_segment_seed_is_stable_and_distinct():
    assert segment_seed(0, 1000) == segment_seed(0, 1000)
    assert len({segment_seed(0, i) for i in range(0, 5000, 1000)}) == 5

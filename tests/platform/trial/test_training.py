"""The training loop: checkpoint-resume equals an uninterrupted run; NaN stops it cleanly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from platform.config.trial import TrainConfig, TrialConfig
from platform.trial import training
from platform.trial.training import (
    CHECKPOINT_FILE,
    NonFiniteLossError,
    TrainingParts,
    load_checkpoint,
    segment_seed,
    train,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def _train(model, loss_fn, optimizer, schedule, *, device: torch.device, checkpoint_dir: Path,
           on_progress, start_iteration: int = 0, **settings):
    """``train`` with the loop's settings given as ``TrainConfig`` fields."""
    return train(TrainingParts(model, loss_fn, optimizer, schedule), _batches,
                 TrainConfig(**settings), device=device, checkpoint_dir=checkpoint_dir,
                 on_progress=on_progress, start_iteration=start_iteration)


def _run(tmp: Path, iterations: int, *, start: int = 0, parts=None, events=None):
    model, optimizer, schedule = parts or _parts()
    _train(
        model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule,
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
    assert set(state) >= {"model", "optimizer", "schedule", "torch_rng", "last_loss", "scaler"}
    assert state["scaler"] == {}  # float32 on CPU: no loss scaler to keep


def test_the_float16_loss_scaler_is_saved_and_restored(tmp_path):
    """Issue 16: a resumed float16 run must scale its losses as an uninterrupted one."""
    model, optimizer, schedule = _parts()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    for _ in range(3):  # three overflow-free steps: the scale grows to 2**13
        optimizer.zero_grad()
        scaler.scale(model(torch.rand(1, 1, 4, 4, 4)).mean()).backward()
        scaler.step(optimizer)
        scaler.update()
    training.save_checkpoint(tmp_path, model=model, optimizer=optimizer, schedule=schedule,
                             iteration=3, last_loss=0.5, scaler=scaler)
    fresh = torch.amp.GradScaler("cpu", init_scale=1.0)
    parts = _parts(seed=1)
    assert load_checkpoint(tmp_path, model=parts[0], optimizer=parts[1], schedule=parts[2],
                           scaler=fresh) == 3
    assert fresh.get_scale() == scaler.get_scale() == 2.0**13
    assert fresh.state_dict() == scaler.state_dict()


def test_the_scaler_is_on_only_where_training_autocasts_to_float16(monkeypatch) -> None:
    asked: list[bool] = []
    monkeypatch.setattr(torch.amp, "GradScaler",
                        lambda device, enabled: asked.append(enabled) or enabled)
    training.grad_scaler(torch.device("cpu"), "auto")
    monkeypatch.setattr(training, "autocast_dtype", lambda device, enabled: torch.float16)
    training.grad_scaler(torch.device("cuda"), True)  # a T4 or V100: fp16
    monkeypatch.setattr(training, "autocast_dtype", lambda device, enabled: torch.bfloat16)
    training.grad_scaler(torch.device("cuda"), True)  # native bf16 needs no scaling
    assert asked == [False, True, False]


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
        _train(
            model, loss_fn, optimizer, schedule, iterations=20, seed=7,
            device=torch.device("cpu"), checkpoint_dir=tmp_path, checkpoint_every=5,
            log_every=100, on_progress=lambda p: None,
        )
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 5
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_segment_seed_is_stable_and_distinct():
    assert segment_seed(0, 1000) == segment_seed(0, 1000)
    assert len({segment_seed(0, i) for i in range(0, 5000, 1000)}) == 5


def test_losses_reach_the_host_once_per_log_interval(tmp_path, monkeypatch):
    """Issue 15: no host-device synchronisation per iteration, only at log points."""
    reads: list[int] = []
    check = training._Loop.check_losses

    def counting(self):
        if self.pending:
            reads.append(len(self.pending))
        check(self)

    monkeypatch.setattr(training._Loop, "check_losses", counting)
    model, optimizer, schedule = _parts()
    result = _train(
        model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule, iterations=12,
        seed=7, device=torch.device("cpu"), checkpoint_dir=tmp_path, checkpoint_every=12,
        log_every=4, on_progress=lambda p: None,
    )
    assert reads == [4, 4, 4]
    assert result.iterations == 12 and math.isfinite(result.final_loss)


def test_nan_between_log_points_names_its_own_iteration(tmp_path):
    model, optimizer, schedule = _parts()
    calls = {"n": 0}

    def loss_fn(logits, target):
        calls["n"] += 1
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return loss * float("inf") if calls["n"] == 6 else loss

    with pytest.raises(NonFiniteLossError, match=r"became inf at iteration 6 "):
        _train(
            model, loss_fn, optimizer, schedule, iterations=20, seed=7,
            device=torch.device("cpu"), checkpoint_dir=tmp_path, checkpoint_every=4,
            log_every=4, on_progress=lambda p: None,
        )
    assert calls["n"] == 8  # found at the next check, iteration 8; no checkpoint after 4
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["iteration"] == 4


def test_compiled_forward_trains_the_same_weights(tmp_path, monkeypatch):
    compiled = []
    real_compile = torch.compile

    def eager_compile(module):  # the real torch.compile, without a C++ toolchain
        compiled.append(module)
        return real_compile(module, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    plain, _, _ = _run(tmp_path / "plain", 5)
    model, optimizer, schedule = _parts()
    _train(
        model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule, iterations=5, seed=7,
        device=torch.device("cpu"), amp="auto", checkpoint_dir=tmp_path / "compiled",
        checkpoint_every=5, log_every=2, on_progress=lambda p: None, compile=True,
    )
    assert compiled == [model]
    for a, b in zip(plain.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    state = torch.load(tmp_path / "compiled" / CHECKPOINT_FILE, weights_only=True)
    assert set(state["model"]) == set(plain.state_dict())  # no "_orig_mod." prefixes


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_with_amp_checkpoints_and_reports(tmp_path):
    events = []
    model, optimizer, schedule = _parts()
    result = _train(
        model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule, iterations=6,
        seed=7, device=torch.device("cuda"), amp="auto", checkpoint_dir=tmp_path,
        checkpoint_every=3, log_every=2, on_progress=events.append,
    )
    assert result.iterations == 6 and math.isfinite(result.final_loss)
    assert [e.iteration for e in events] == [2, 3, 4, 6]
    assert next(model.parameters()).is_cuda
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["iteration"] == 6


@pytest.mark.parametrize(("setting", "values"), [("train.amp", (False, True, "auto")),
                                                 ("train.channels_last", (False, True))])
def test_the_settings_called_cpu_inert_train_the_same_weights_on_a_cpu(
        tmp_path, setting, values) -> None:
    """Table 1 calls rows that differ only in ``TrialConfig.cpu_inert`` identical on a CPU
    (``platform/report/same_rows.py``): training must agree to the bit."""
    assert setting in TrialConfig.cpu_inert
    name = setting.removeprefix("train.")
    states = []
    for value in values:
        model, optimizer, schedule = _parts()
        _train(model, torch.nn.BCEWithLogitsLoss(), optimizer, schedule, iterations=5, seed=7,
               device=torch.device("cpu"), checkpoint_dir=tmp_path / str(value),
               checkpoint_every=5, log_every=2, on_progress=lambda p: None, **{name: value})
        states.append(model.state_dict())
    for state in states[1:]:
        for a, b in zip(states[0].values(), state.values(), strict=True):
            assert torch.equal(a, b)
    assert set(TrialConfig.cpu_inert) == {"train.amp", "train.channels_last"}  # all tested

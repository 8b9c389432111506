"""The training loop: iterations of patch batches, AMP, a NaN guard and resumable checkpoints.

Why a loop of our own rather than a framework trainer: the paper trains for a fixed
number of iterations (40,000, batch 2) with a per-iteration LR schedule, and an
interrupted trial must end with exactly the weights of an uninterrupted one. That needs
two things a generic trainer hides:

* the data stream restarts at every checkpoint boundary from a seed derived from
  ``(seed, iteration)`` (``make_batches(segment_seed)``), so a resumed run sees the same
  patches as an uninterrupted one without replaying the sampler from the start;
* a checkpoint holds model, optimizer, schedule, RNG states and the iteration, saved
  with plain tensors and numbers so that ``torch.load(..., weights_only=True)`` reads it.

A non-finite loss stops training with :class:`NonFiniteLossError` (iteration and last
finite loss in the message), a diverging one with
:class:`~platform.trial.stops.DivergingLossError` (the guard of
:mod:`platform.trial.stops`, ``train.divergence_factor``); the last good checkpoint is kept
because checkpoints are only written after the losses since the previous check were all
finite and within the guard.

On a GPU the loop never makes the host wait for the device between log points: losses
stay on the device and are brought over (one synchronisation) every ``log_every``
iterations, at each checkpoint and at least every :data:`LOSS_CHECK_EVERY` iterations, so
the CPU prepares the next batch while the GPU still computes. Batches are copied from
pinned memory without blocking. (With fp16, PyTorch's ``GradScaler`` still synchronises
once per step to skip overflowed steps; bf16 needs no scaler.) Patches have one fixed
shape, so training on CUDA turns on ``torch.backends.cudnn.benchmark`` (process-wide):
cuDNN times its 3D convolution algorithms once and keeps the fastest.
``train.compile`` runs the forward pass through ``torch.compile``; checkpoints keep the
plain model's keys.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.precision import autocast_dtype, to_channels_last
from platform.config.trial import TrainConfig
from platform.trial.stops import DivergenceGuard, NonFiniteLossError

__all__ = [
    "CHECKPOINT_FILE",
    "LOSS_CHECK_EVERY",
    "NonFiniteLossError",
    "Progress",
    "TrainResult",
    "TrainingParts",
    "grad_scaler",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "segment_seed",
    "train",
    "training_step",
]

logger = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(logits, target)`` in float32 (a loss part of :mod:`models.losses`)."""
Batches = Iterator[Mapping[str, torch.Tensor]]
"""An endless stream of ``{"image", "lesion"}`` batches ``(B, 1, D, H, W)``."""
MakeBatches = Callable[[int], Batches]
"""``make_batches(segment_seed)``: the training patches from one checkpoint on."""

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_CHECK_EVERY = 50
"""Most iterations between two finiteness checks of the loss (each costs one host sync)."""


@dataclass(frozen=True)
class Progress:
    """One progress event: sent every ``log_every`` iterations and at each checkpoint."""

    iteration: int
    loss: float
    lr: float
    iterations_per_s: float
    checkpoint_dir: Path | None


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or resumed-and-finished) training run ends with."""

    iterations: int
    final_loss: float
    seconds: float


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for initialisation and sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def segment_seed(seed: int, iteration: int) -> int:
    """Seed of the data stream that starts at ``iteration`` (stable across machines)."""
    digest = hashlib.sha256(f"{seed}:{iteration}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def grad_scaler(device: torch.device, amp: bool | str) -> torch.amp.GradScaler:
    """The loss scaler of a run: enabled where training autocasts to float16 (GPUs without
    native bfloat16), a no-op elsewhere."""
    dtype = autocast_dtype(device, amp is not False)
    return torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)


def save_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    iteration: int,
    last_loss: float,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + rename) and return its path.

    The float16 loss scaler's state is saved too, so a resumed float16 run scales its
    losses exactly as an uninterrupted one would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else {},
        "iteration": iteration,
        "last_loss": float(last_loss),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path = directory / CHECKPOINT_FILE
    tmp = directory / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None = None,
) -> int:
    """Restore a checkpoint written by :func:`save_checkpoint`; return its iteration."""
    state = torch.load(directory / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["iteration"])


@dataclass
class _Loop:
    """Mutable state of one training run, kept small so ``train`` stays readable."""

    iteration: int
    guard: DivergenceGuard = field(default_factory=lambda: DivergenceGuard(None, 1))
    last_finite: float | None = None
    window_start: float = 0.0
    window_iterations: int = 0
    pending: list[torch.Tensor] = field(default_factory=list)

    def record(self, loss: torch.Tensor) -> None:
        """Keep the step's loss on its device (no synchronisation) and count the step."""
        self.pending.append(loss.detach())
        self.iteration += 1
        self.window_iterations += 1

    def check_losses(self) -> None:
        """Bring the pending losses to the host in one copy and stop at the first non-finite.

        Raises:
            NonFiniteLossError: naming the first iteration whose loss was NaN or Inf.
            DivergingLossError: the divergence guard stopped the training.
        """
        if not self.pending:
            return
        values = torch.stack(self.pending).float().cpu().tolist()
        self.pending.clear()
        first = self.iteration - len(values) + 1
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                raise NonFiniteLossError(first + offset, value, self.last_finite)
            self.guard.check(first + offset, value)
            self.last_finite = value


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a batch tensor to ``device``; on CUDA through pinned memory, without blocking."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


@dataclass
class TrainingParts:
    """The network and what trains it, built fresh for one training run
    (:func:`platform.trial.parts.training_parts`)."""

    model: torch.nn.Module
    loss: LossFn
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler


def training_step(forward: Callable[[torch.Tensor], torch.Tensor], loss_fn: LossFn,
                  optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                  image: torch.Tensor, target: torch.Tensor,
                  dtype: torch.dtype | None) -> torch.Tensor:
    """One optimisation step: forward under autocast (``dtype``; None: float32), the loss in
    float32, the scaled backward pass and the optimizer step. Returns the loss on its device
    (no host synchronisation). The training loop and ``benchmarks/gpu_check_train.py`` share
    it, so the benchmark times exactly the step a trial runs."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(image.device.type, dtype=dtype or torch.float32,
                        enabled=dtype is not None):
        logits = forward(image)
    loss = loss_fn(logits.float(), target)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


def train(
    parts: TrainingParts,
    make_batches: MakeBatches,
    settings: TrainConfig,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    on_progress: Callable[[Progress], None],
    start_iteration: int = 0,
    scaler: torch.amp.GradScaler | None = None,
) -> TrainResult:
    """Train ``parts.model`` from ``start_iteration`` to ``settings.iterations``.

    Args:
        make_batches: called with a segment seed at the start and after every checkpoint;
            returns an endless iterator of ``{"image", "lesion"}`` tensors ``(B, 1, D, H, W)``.
        settings: the trial's ``train`` section: iterations, seed, ``amp``,
            ``channels_last``, ``checkpoint_every`` (also the data-segment length),
            ``log_every``, ``compile`` (the forward pass through ``torch.compile``; weights
            and checkpoints stay the plain model's; it pays only for long runs, see
            ``benchmarks/gpu_check.py``) and the divergence guard's ``divergence_*``.
        on_progress: receives a :class:`Progress` every ``log_every`` iterations and after
            each checkpoint (then with ``checkpoint_dir`` set).
        start_iteration: where a restored checkpoint left off.
        scaler: the float16 loss scaler, restored with the checkpoint by the caller
            (:func:`grad_scaler` makes one when None).

    Raises:
        NonFiniteLossError, DivergingLossError: the loss became NaN or Inf, or diverged
            (found at most ``min(log_every, checkpoint_every, LOSS_CHECK_EVERY)`` later).
    """
    model = parts.model
    dtype = autocast_dtype(device, settings.amp is not False)
    use_channels_last = settings.channels_last and device.type == "cuda"
    scaler = scaler if scaler is not None else grad_scaler(device, settings.amp)
    model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one patch shape: autotune once (see above)
    if use_channels_last:
        to_channels_last(model)
    model.train()
    forward = torch.compile(model) if settings.compile else model
    run = _Checkpoints(parts, make_batches, settings, checkpoint_dir, on_progress, scaler)
    guard = DivergenceGuard(settings.divergence_factor, settings.divergence_window)
    state = _Loop(iteration=start_iteration, guard=guard, window_start=time.perf_counter())
    started = time.perf_counter()
    batches = make_batches(segment_seed(settings.seed, start_iteration))
    while state.iteration < settings.iterations:
        batch = next(batches)
        image = _to_device(batch["image"], device)
        target = _to_device(batch["lesion"], device)
        if use_channels_last:
            image = image.contiguous(memory_format=torch.channels_last_3d)
        loss = training_step(forward, parts.loss, parts.optimizer, scaler, image, target, dtype)
        parts.schedule.step()
        state.record(loss)
        batches = run.after_step(state, batches)
    state.check_losses()
    final = state.last_finite if state.last_finite is not None else float("nan")
    return TrainResult(state.iteration, final, time.perf_counter() - started)


@dataclass(frozen=True)
class _Checkpoints:
    """What happens between steps: loss checks, checkpoints, data segments, progress."""

    parts: TrainingParts
    make_batches: MakeBatches
    settings: TrainConfig
    directory: Path
    on_progress: Callable[[Progress], None]
    scaler: torch.amp.GradScaler

    def after_step(self, state: _Loop, batches: Batches) -> Batches:
        """Check the losses, checkpoint, restart the data segment and report progress
        where due; return the batches to continue with."""
        settings = self.settings
        checkpoint_due = (state.iteration % settings.checkpoint_every == 0
                          or state.iteration == settings.iterations)
        log_due = state.iteration % settings.log_every == 0
        if checkpoint_due or log_due or state.iteration % LOSS_CHECK_EVERY == 0:
            state.check_losses()  # the one host-device synchronisation between log points
        if not (checkpoint_due or log_due):
            return batches
        assert state.last_finite is not None  # the steps just checked were finite
        saved = None
        if checkpoint_due:
            save_checkpoint(
                self.directory, model=self.parts.model, optimizer=self.parts.optimizer,
                schedule=self.parts.schedule, iteration=state.iteration,
                last_loss=state.last_finite, scaler=self.scaler,
            )
            saved = self.directory
            batches = self.make_batches(segment_seed(settings.seed, state.iteration))
        elapsed = max(time.perf_counter() - state.window_start, 1e-9)
        self.on_progress(Progress(
            iteration=state.iteration, loss=state.last_finite,
            lr=float(self.parts.optimizer.param_groups[0]["lr"]),
            iterations_per_s=state.window_iterations / elapsed, checkpoint_dir=saved))
        state.window_start = time.perf_counter()
        state.window_iterations = 0
        return batches

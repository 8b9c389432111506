"""Training measurements of ``gpu_check.py``: step times, loader supply and a real run.

Kept beside the script (not in ``platform/``) because only the check uses it. Every
function runs in the calling process and returns a plain dict for the JSON report;
timings bracket many steps between two device synchronisations, so they measure
throughput as the training loop sees it (it does not synchronise per step either).
"""

from __future__ import annotations

import gc
import math
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "ANCHOR",
    "FINAL",
    "MODES",
    "NETWORKS",
    "loader_supply",
    "real_training",
    "time_train_step",
]

ANCHOR = "basicunet"
FINAL = "unet3d_residual_se"
NETWORKS = (ANCHOR, "unet3d", "unet3d_residual", FINAL)
MODES = ("float32", "autocast", "autocast+channels_last", "autocast+channels_last+cl_norm",
         "autocast+channels_last+compile")
"""Each adds to ``autocast+channels_last``; ``cl_norm`` swaps every ``nn.InstanceNorm3d`` for
:class:`models.blocks.layers.ChannelsLastInstanceNorm3d` (no layout round trip per norm)."""
PATCHES_PER_PATIENT = 32  # the paper's sampler setting (sweeps/ablation.yaml)
QUEUE_LENGTH = 64


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA work is asynchronous; the CPU is not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_device_memory(device: torch.device) -> None:
    """Drop cached blocks and reset the peak counter so the next row measures only itself."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset; None on CPU (no per-row peak there)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def amp_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the GPU runs it natively, else fp16; bf16 on CPU (only exercises the path)."""
    import models

    return models.autocast_dtype(device) or torch.bfloat16


def build_network(name: str, width: int) -> nn.Module:
    """A Table 1 network from the registry, or the anchor: MONAI BasicUNet at the same widths."""
    if name == ANCHOR:
        from monai.networks.nets import BasicUNet

        features = (width, 2 * width, 4 * width, 8 * width, 16 * width, width)
        return BasicUNet(3, 1, 1, features=features, upsample="nontrainable")
    import models

    return models.build_model(name, base_width=width)


def time_train_step(
    name: str,
    mode: str,
    *,
    device: torch.device,
    patch: int,
    batch: int,
    width: int,
    warmup: int,
    steps: int,
    compile_backend: str,
) -> dict[str, Any]:
    """Seconds per training step (forward, BCE + Dice, backward, Adam) of one network and mode.

    Args:
        mode: one of :data:`MODES`; each adds to the one before it.
        warmup: untimed steps first (cuDNN autotuning; compilation in the compile mode).
        compile_backend: ``torch.compile`` backend, ``"inductor"`` on a GPU.
    """
    free_device_memory(device)
    row = _measure_steps(name, mode, device=device, patch=patch, batch=batch, width=width,
                         warmup=warmup, steps=steps, compile_backend=compile_backend)
    if "compile" in mode:
        torch._dynamo.reset()  # drop the compiled graphs before the next row
    free_device_memory(device)  # the row's tensors died with _measure_steps' frame
    return row


def _measure_steps(
    name: str,
    mode: str,
    *,
    device: torch.device,
    patch: int,
    batch: int,
    width: int,
    warmup: int,
    steps: int,
    compile_backend: str,
) -> dict[str, Any]:
    import models
    from platform.trial.training import training_step

    torch.manual_seed(0)
    net = build_network(name, width).to(device)
    shape = (batch, 1, patch, patch, patch)
    images = torch.randn(shape, device=device)
    target = (torch.rand(shape, device=device) > 0.97).float()
    dtype = amp_dtype(device) if "autocast" in mode else None
    if "cl_norm" in mode:
        from models.precision import swap_instance_norms

        swap_instance_norms(net)
    if "channels_last" in mode:
        net = net.to(memory_format=torch.channels_last_3d)
        images = images.contiguous(memory_format=torch.channels_last_3d)
    forward = torch.compile(net, backend=compile_backend) if "compile" in mode else net
    loss_fn = models.build_loss("bce_dice")
    optimizer = models.build_optimizer("adam", net.parameters())
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def step() -> torch.Tensor:  # the trial's own step (platform.trial.training)
        return training_step(forward, loss_fn, optimizer, scaler, images, target,
                             dtype).detach()

    started = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    losses = [step() for _ in range(steps)]
    sync(device)
    seconds = (time.perf_counter() - started) / steps
    row = {
        "network": name, "mode": mode, "seconds": seconds, "warmup_seconds": warm,
        "peak_mib": peak_mib(device), "dtype": str(dtype or torch.float32).replace("torch.", ""),
        "params": sum(p.numel() for p in net.parameters()), "loss": float(losses[-1]),
    }  # fmt: skip
    return _judge_loss(row, device)


def _judge_loss(row: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A non-finite loss is an error on CUDA. On CPU, bf16 autocast only exercises the code
    (trials train in float32 there), and PyTorch 2.13's CPU bf16 kernels now and then give
    NaN from finite inputs (seen for BasicUNet at width 2, about one run in six, single
    thread, not reproducible op by op); such a row says so instead of posing as a number."""
    if math.isfinite(row["loss"]):
        return row
    if device.type == "cpu" and row["dtype"] == "bfloat16":
        return {**row, "loss": None, "loss_note": "non-finite under CPU bf16 (not a trial path)"}
    return {**row, "error": f"non-finite loss {row['loss']} after {row['mode']} steps"}


def _loader(
    cases: Sequence[Any], patch: int, batch: int, workers: int, seed: int
) -> Iterator[dict[str, torch.Tensor]]:
    from data_pipeline.samplers import SAMPLERS, make_patch_loader

    sampler = SAMPLERS.spec("label", {"patch_size": (patch, patch, patch),
                                      "patches_per_patient": PATCHES_PER_PATIENT,
                                      "queue_length": QUEUE_LENGTH, "num_workers": workers})
    return make_patch_loader(list(cases), sampler, batch_size=batch, seed=seed)


def loader_supply(
    cases: Sequence[Any], *, patch: int, batch: int, workers: int, batches: int
) -> dict[str, Any]:
    """Batches per second that the training loader delivers with ``workers`` processes.

    The first batch (the queue's first fill) is not timed; ``batches`` then run through
    at least one refill when they exceed the queue.
    """
    stream = _loader(cases, patch, batch, workers, seed=0)
    next(stream)
    started = time.perf_counter()
    for _ in range(batches):
        next(stream)
    seconds = time.perf_counter() - started
    return {"workers": workers, "batches": batches, "seconds_per_batch": seconds / batches,
            "patches_per_s": batches * batch / seconds}


def real_training(
    cases: Sequence[Any],
    *,
    device: torch.device,
    patch: int,
    batch: int,
    width: int,
    iterations: int,
    log_every: int,
    workers: int,
    compile_model: bool,
) -> dict[str, Any]:
    """Train the final variant with the platform's own loop and loader; iterations per second.

    Uses :func:`platform.trial.training.train` exactly as a trial does (autocast, channels-last,
    pinned copies, one checkpoint at the end), the weighted BCE + Dice loss with the cases'
    class counts and the paper's Adam and step-halving schedule.
    """
    free_device_memory(device)
    row = _train_final(cases, device=device, patch=patch, batch=batch, width=width,
                       iterations=iterations, log_every=log_every, workers=workers,
                       compile_model=compile_model)
    if compile_model:
        torch._dynamo.reset()
    free_device_memory(device)
    return row


def _train_final(
    cases: Sequence[Any],
    *,
    device: torch.device,
    patch: int,
    batch: int,
    width: int,
    iterations: int,
    log_every: int,
    workers: int,
    compile_model: bool,
) -> dict[str, Any]:
    import models
    from platform.config.trial import TrainConfig
    from platform.trial.training import TrainingParts, train

    torch.manual_seed(0)
    model = models.build_model(FINAL, base_width=width)
    lesion = sum(int(case.lesion.sum()) for case in cases)
    total = sum(int(case.lesion.size) for case in cases)
    loss = models.build_loss("weighted_bce_dice", class_counts=(total - lesion, lesion))
    optimizer = models.build_optimizer("adam", model.parameters())
    schedule = models.build_schedule("step_halving", optimizer)
    events: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-train-") as tmp:
        settings = TrainConfig(iterations=iterations, seed=0, amp="auto", channels_last=True,
                               checkpoint_every=iterations, log_every=log_every,
                               compile=compile_model)
        result = train(
            TrainingParts(model, loss, optimizer, schedule),
            lambda seed: _loader(cases, patch, batch, workers, seed), settings,
            device=device, checkpoint_dir=Path(tmp), on_progress=events.append,
        )  # fmt: skip
    steady = [event.iterations_per_s for event in events[1:]] or [events[-1].iterations_per_s]
    return {
        "iterations": result.iterations, "seconds": result.seconds,
        "iterations_per_s": statistics.median(steady),
        "overall_iterations_per_s": result.iterations / result.seconds,
        "final_loss": result.final_loss, "compile": compile_model, "workers": workers,
        "peak_mib": peak_mib(device),
    }  # fmt: skip

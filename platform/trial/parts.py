"""Where a trial's config meets the code it configures: every part built from one place.

Why one module: a setting that is validated and logged but never applied is the worst
bug this platform can have. Every consumer of a :class:`TrialConfig` section is reached
through the functions here (the knob-reach test in ``tests/platform/test_parts.py``
changes each setting and checks what these return), so a new setting has one place to
be wired and one table row to prove it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.samplers import make_patch_loader
from models import build_loss, build_model, build_optimizer, build_schedule
from platform.config.request import SweepContext
from platform.config.trial import TrialConfig
from platform.inference import from_config
from platform.trial.training import Batches, MakeBatches, TrainingParts

__all__ = ["TrainingParts", "assigned_gpu_index", "configure_threads", "device_name",
           "network", "patch_batches", "trial_device", "training_parts"]

def network(config: TrialConfig) -> torch.nn.Module:
    """The network of ``config.model`` for patches of the sampler's size (initialised from
    torch's current seed); tiled inference feeds it patches of that size too."""
    return build_model(config.model, patch_size=from_config.patch_size(config))


def training_parts(config: TrialConfig, class_counts: tuple[int, int] | None) -> TrainingParts:
    """Network, loss, optimizer and per-iteration schedule of ``config``.

    Args:
        class_counts: ``(N0, N1)`` over the fold's training cases only (the weighted loss).
    """
    model = network(config)
    optimizer = build_optimizer(config.optimizer, model.parameters())
    return TrainingParts(model=model,
                         loss=build_loss(config.loss, class_counts=class_counts),
                         optimizer=optimizer,
                         schedule=build_schedule(config.schedule, optimizer))


def patch_batches(config: TrialConfig, cases: Sequence[PreprocessedCase]) -> MakeBatches:
    """``make_batches(seed)`` for the training loop: the configured sampler over ``cases``."""

    def make_batches(seed: int) -> Batches:
        return make_patch_loader(cases, config.sampler, batch_size=config.train.batch_size,
                                 seed=seed)

    return make_batches


def device_name(device: torch.device) -> str:
    """What ran a computation, for Table 2's seconds per patient: the GPU's name, or the
    CPU with the threads torch used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def trial_device(context: SweepContext,
                 assigned_gpus: Sequence[int | str] | None = None) -> torch.device:
    """The device a trial trains on: the GPU Ray assigned it, else the CPU.

    Args:
        assigned_gpus: ``ray.get_gpu_ids()`` inside a Ray trial; None outside Ray, where
            ``resources.gpus_per_trial`` (null or > 0) picks the first CUDA device.

    Raises:
        RuntimeError: Ray assigned a GPU but torch sees no CUDA device (a CPU build of
            torch on a GPU node): training on the CPU would take days longer, silently.
    """
    if assigned_gpus is None:
        wanted = context.gpus_per_trial is None or context.gpus_per_trial > 0
        return torch.device("cuda" if wanted and torch.cuda.is_available() else "cpu")
    if not assigned_gpus:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"Ray assigned GPU {list(assigned_gpus)} to this trial, but torch "
            f"{torch.__version__} sees no CUDA device on this node: install torch's CUDA "
            "build on every GPU node (infra/Dockerfile), or set resources.gpus_per_trial=0")
    index = assigned_gpu_index(assigned_gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    return torch.device("cuda", index)


def assigned_gpu_index(assigned_gpus: Sequence[int | str], visible: str | None) -> int:
    """The CUDA index, in this process, of the first GPU Ray assigned.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the trial's GPUs, so the first visible device is
    the assigned one (index 0), also for a fractional GPU. Where Ray leaves the variable
    alone (``RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES``), the id is looked up in the
    visible list, or is itself the index when every GPU is visible.

    Args:
        assigned_gpus: ``ray.get_gpu_ids()`` (ids as the node numbers them).
        visible: ``CUDA_VISIBLE_DEVICES`` of this process (None: unset).
    """
    first = str(assigned_gpus[0])
    if visible is None or not visible.strip():
        return int(first)
    ids = [item.strip() for item in visible.split(",")]
    if first not in ids:
        raise RuntimeError(f"Ray assigned GPU {first}, which CUDA_VISIBLE_DEVICES={visible!r} "
                           "hides from this process: leave CUDA_VISIBLE_DEVICES to Ray")
    return ids.index(first)


def configure_threads(config: TrialConfig, context: SweepContext) -> int:
    """Set torch's CPU threads: ``train.threads``, else the trial's Ray CPU share.

    Ray sets ``OMP_NUM_THREADS=1`` in workers, so this is the trial's only thread setting.
    """
    threads = max(1, int(config.train.threads or context.cpus_per_trial or 1))
    torch.set_num_threads(threads)
    return threads

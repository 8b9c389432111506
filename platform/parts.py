"""Where a trial's config meets the code it configures: every part built from one place.

Why one module: a setting that is validated and logged but never applied is the worst
bug this platform can have. Every consumer of a :class:`TrialConfig` section is reached
through the functions here (the knob-reach test in ``tests/platform/test_parts.py``
changes each setting and checks what these return), so a new setting has one place to
be wired and one table row to prove it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.samplers import make_patch_loader
from models import build_loss, build_model, build_optimizer, build_schedule
from platform.config.trial import TrialConfig
from platform.evaluation import CaseScores
from platform.inference import INFERENCE, SlidingWindow
from platform.lesion_metrics import lesion_metrics
from platform.metrics import confusion_counts
from platform.postprocess_choice import candidate_dice
from platform.request import SweepContext

__all__ = ["TrainingParts", "case_scores", "configure_threads", "device_name", "inference",
           "network", "patch_batches", "patch_size", "train_arguments", "trial_device",
           "training_parts"]

Batches = Callable[[int], Iterator[dict[str, torch.Tensor]]]


@dataclass
class TrainingParts:
    """The network and what trains it, built fresh for one training run."""

    model: torch.nn.Module
    loss: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler


def network(config: TrialConfig) -> torch.nn.Module:
    """The network of ``config.model`` (initialised from torch's current seed)."""
    return build_model(config.model)


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


def patch_batches(config: TrialConfig, cases: Sequence[PreprocessedCase]) -> Batches:
    """``make_batches(seed)`` for the training loop: the configured sampler over ``cases``."""

    def make_batches(seed: int) -> Iterator[dict[str, torch.Tensor]]:
        return make_patch_loader(cases, config.sampler, batch_size=config.train.batch_size,
                                 seed=seed)

    return make_batches


def inference(config: TrialConfig) -> SlidingWindow:
    """The configured whole-volume inference (``eval.inference``)."""
    built: SlidingWindow = INFERENCE.create(config.eval.inference)
    return built


def case_scores(config: TrialConfig) -> CaseScores:
    """The scores beside the voxel metrics of each held-out case: voxel counts (for
    ``summary.json``), lesion-wise metrics at ``eval.surface_tolerance_mm`` and the Dice
    after each ``eval.postprocessing`` candidate."""
    tolerance, candidates = config.eval.surface_tolerance_mm, config.eval.postprocessing

    def scores(pred: Any, truth: Any, spacing: tuple[float, float, float]) -> dict[str, float]:
        return {**confusion_counts(pred, truth),
                **lesion_metrics(pred, truth, spacing, tolerance_mm=tolerance),
                **candidate_dice(pred, truth, spacing, candidates)}

    return scores


def patch_size(config: TrialConfig) -> tuple[int, int, int]:
    """The training patch size, also the inference patch size."""
    size: tuple[int, int, int] = config.sampler.params.patch_size  # type: ignore[attr-defined]
    return size


def device_name(device: torch.device) -> str:
    """What ran a computation, for Table 2's seconds per patient: the GPU's name, or the
    CPU with the threads torch used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def trial_device(context: SweepContext) -> torch.device:
    """One GPU per trial where Ray granted one (and CUDA is there), else the CPU."""
    if context.gpus_per_trial > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def configure_threads(config: TrialConfig, context: SweepContext) -> int:
    """Set torch's CPU threads: ``train.threads``, else the trial's Ray CPU share.

    Ray sets ``OMP_NUM_THREADS=1`` in workers, so this is the trial's only thread setting.
    """
    threads = max(1, int(config.train.threads or context.cpus_per_trial or 1))
    torch.set_num_threads(threads)
    return threads


def train_arguments(config: TrialConfig) -> dict[str, Any]:
    """The training loop's settings from ``config.train`` (``platform.training.train``)."""
    train = config.train
    return {"iterations": train.iterations, "seed": train.seed, "amp": train.amp,
            "channels_last": train.channels_last, "checkpoint_every": train.checkpoint_every,
            "log_every": train.log_every, "compile_model": train.compile}

"""The steps of one trial: build everything from the config, train, evaluate, log.

Kept apart from :mod:`platform.trial` (which only knows where progress goes: Ray Tune or
the console) so each step reads top to bottom and can be tested alone. Everything is
built through the registries from the validated config; the loss-weight statistics
N0/N1 come from the fold's training patients only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from data_pipeline.samplers import make_patch_loader
from models import build_loss, build_model, build_optimizer, build_schedule
from platform.config import TrialConfig
from platform.evaluation import CaseEvaluation, evaluate_cases, fold_means
from platform.figures import contour_figure
from platform.fold_data import FoldCases, load_fold
from platform.tracking import TrialRun, find_trial_run, run_tags
from platform.training import (
    CHECKPOINT_FILE,
    NonFiniteLossError,
    Progress,
    load_checkpoint,
    seed_everything,
    train,
)
from platform.trial_context import TrialContext

__all__ = [
    "FAILURE_FILE", "Fitted", "TrialOutcome", "build_parts", "evaluate_and_log", "fit",
    "evaluate_fold", "load_data", "open_run", "train_on", "trial_device",
]

logger = logging.getLogger(__name__)

FAILURE_FILE = "failure.json"


@dataclass
class Fitted:
    """A trained network with the data and the MLflow run it belongs to."""

    model: torch.nn.Module
    data: FoldCases


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished trial reports: fold means and the per-patient rows."""

    run_id: str
    fold_means: dict[str, float]
    rows: list[dict[str, float | str]]


def trial_device(context: TrialContext) -> torch.device:
    """One GPU per trial where Ray granted one (and CUDA is there), else the CPU."""
    if context.gpus_per_trial > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def build_parts(
    config: TrialConfig, class_counts: tuple[int, int] | None
) -> tuple[torch.nn.Module, torch.nn.Module, torch.optim.Optimizer, Any]:
    """Model, loss, optimizer and per-iteration LR schedule from the registries."""
    model = build_model(config.model.name, **config.builder_kwargs("model"))
    loss = build_loss(config.loss.name, class_counts=class_counts, **config.builder_kwargs("loss"))
    optimizer = build_optimizer(
        config.optimizer.name, model.parameters(), **config.builder_kwargs("optimizer")
    )
    schedule = build_schedule(config.schedule.name, optimizer, **config.builder_kwargs("schedule"))
    return model, loss, optimizer, schedule


def open_run(trial: Mapping[str, Any], context: TrialContext) -> TrialRun:
    """The trial's MLflow child run; a retried or resumed trial reopens the same run."""
    run_id = None
    if context.parent_run_id:
        run_id = find_trial_run(context.tracking_uri, context.parent_run_id, trial["trial_id"])
    tags = run_tags(
        variant=trial["variant"], fold=int(trial["fold"]), sweep_id=context.sweep_id,
        trial_id=trial["trial_id"],
    )
    return TrialRun(
        context.tracking_uri, context.experiment, parent_run_id=context.parent_run_id,
        run_name=f"{trial['variant']}/fold{trial['fold']}", tags=tags, run_id=run_id,
    )


def load_data(config: TrialConfig, context: TrialContext, fold: int, *,
              validation: bool = False) -> FoldCases:
    """The fold's preprocessed cases (a validation split of the training fold if asked)."""
    return load_fold(
        Path(context.cohort), fold=fold, n_folds=context.n_folds, cv_seed=context.cv_seed,
        splits_file=Path(context.splits_file) if context.splits_file else None,
        steps=config.preprocessing.step_specs(), cache_root=Path(context.cache_root),
        validation_fraction=config.eval.validation_fraction if validation else None,
    )


def train_on(
    config: TrialConfig,
    data: FoldCases,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    on_progress: Callable[[Progress], None],
) -> torch.nn.Module:
    """Build the parts, resume from ``checkpoint_dir`` if it holds one, and train."""
    seed_everything(config.train.seed)
    model, loss, optimizer, schedule = build_parts(config, data.class_counts)
    start = 0
    if (checkpoint_dir / CHECKPOINT_FILE).exists():
        start = load_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, schedule=schedule)
        logger.info("resuming from iteration %d", start)
    sampler = config.sampler

    def make_batches(seed: int):  # noqa: ANN202 - an endless iterator of batch dicts
        return make_patch_loader(
            list(data.train), sampler=sampler.name, patch_size=tuple(sampler.patch_size),
            patches_per_patient=sampler.patches_per_patient, batch_size=config.train.batch_size,
            queue_length=sampler.queue_length, num_workers=sampler.num_workers,
            label_probabilities=dict(sampler.label_probabilities),
            augmentations=tuple(a.name for a in sampler.augmentations), seed=seed,
        )

    train(
        model, loss, optimizer, schedule, make_batches, iterations=config.train.iterations,
        seed=config.train.seed, device=device, amp=config.train.amp,
        channels_last=config.train.channels_last, checkpoint_dir=checkpoint_dir,
        checkpoint_every=config.train.checkpoint_every, log_every=config.train.log_every,
        on_progress=on_progress, start_iteration=start,
    )
    return model


def fit(
    trial: Mapping[str, Any],
    config: TrialConfig,
    context: TrialContext,
    run: TrialRun,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    report: Callable[[Mapping[str, float], Path | None], None],
) -> Fitted:
    """Train the trial's network, logging curves to ``run``; a NaN loss marks it FAILED."""
    data = load_data(config, context, int(trial["fold"]))
    run.log_config(config.model_dump(mode="json"))
    n0, n1 = data.class_counts
    run.log_metrics({"train_background_voxels": float(n0), "train_lesion_voxels": float(n1)},
                    step=0)

    def on_progress(progress: Progress) -> None:
        curves = {"train_loss": progress.loss, "lr": progress.lr,
                  "iterations_per_s": progress.iterations_per_s}
        run.log_metrics(curves, step=progress.iteration)
        report({**curves, "iteration": float(progress.iteration)}, progress.checkpoint_dir)

    started = time.perf_counter()
    try:
        model = train_on(config, data, device=device, checkpoint_dir=checkpoint_dir,
                         on_progress=on_progress)
    except NonFiniteLossError as err:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (checkpoint_dir / FAILURE_FILE).write_text(json.dumps({"reason": str(err)}))
        run.set_failed(str(err))
        raise
    run.log_metrics({"train_seconds": time.perf_counter() - started}, step=None)
    return Fitted(model=model, data=data)


def evaluate_fold(model: torch.nn.Module, data: FoldCases, config: TrialConfig, *,
                  device: torch.device) -> Iterator[CaseEvaluation]:
    """Evaluate ``data.eval`` with the trial's inference settings, case by case."""
    return evaluate_cases(
        model, data.eval, data.eval_keys, patch_size=tuple(config.sampler.patch_size),
        overlap=config.eval.overlap, threshold=config.eval.threshold,
        batch_size=config.eval.batch_size, device=device, amp=config.train.amp is not False,
        skip_outside_brain=config.eval.skip_outside_brain,
    )


def evaluate_and_log(
    fitted: Fitted, config: TrialConfig, run: TrialRun, *, device: torch.device
) -> TrialOutcome:
    """Evaluate the held-out patients; log per-patient rows, fold means, figures, model."""
    rows = []
    started = time.perf_counter()
    figures_left = config.eval.figure_patients
    evaluations = evaluate_fold(fitted.model, fitted.data, config, device=device)
    for case, evaluation in zip(fitted.data.eval, evaluations, strict=True):
        rows.append(evaluation.row)
        if figures_left > 0 and case.lesion.any():
            figure = contour_figure(case.image, case.lesion, evaluation.prediction,
                                    case_key=str(evaluation.row["case"]))
            run.log_figure(figure, f"figures/{evaluation.row['case']}.png")
            figures_left -= 1
    means = fold_means(rows)
    means["eval_seconds"] = time.perf_counter() - started
    run.log_per_patient(rows)
    run.log_metrics(means, step=None)
    run.log_model(fitted.model.cpu())
    return TrialOutcome(run_id=run.run_id, fold_means=means, rows=rows)

"""One fold trial: train a variant on a fold's training patients, evaluate its test patients.

Kept apart from :mod:`platform.trial` (which only knows where progress goes: Ray Tune or
the console) so each step reads top to bottom and can be tested alone. Every part is
built through :mod:`platform.parts` from the validated config; the loss-weight
statistics N0/N1 come from the fold's training patients only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from data_pipeline.cohort import load_cohort
from platform import parts
from platform.config.trial import TrialConfig
from platform.context import cohort_dataset
from platform.evaluation import CaseEvaluation, evaluate_cases, fold_means
from platform.folds import FoldCases, load_fold_cases
from platform.request import FoldKeys, SweepContext, TrialRequest
from platform.tracking import TrialRun, find_trial_run, run_tags
from platform.tracking.figures import contour_figure
from platform.training import (
    CHECKPOINT_FILE,
    NonFiniteLossError,
    Progress,
    grad_scaler,
    load_checkpoint,
    seed_everything,
    train,
)

__all__ = [
    "FAILURE_FILE", "FoldOutcome", "evaluate_and_log", "evaluate_fold", "fit",
    "lesion_loss_rows", "load_data", "open_run", "train_on",
]

logger = logging.getLogger(__name__)

FAILURE_FILE = "failure.json"
"""Written beside the checkpoint when a trial stopped for good (a NaN loss): not retried."""


@dataclass(frozen=True)
class FoldOutcome:
    """What a finished fold trial reports: fold means and the per-patient rows."""

    run_id: str
    fold_means: dict[str, float]
    rows: list[dict[str, float | str]]


def open_run(request: TrialRequest) -> TrialRun:
    """The trial's MLflow child run; a retried or resumed trial reopens the same run."""
    spec, context = request.spec, request.context
    run_id = None
    if context.parent_run_id:
        run_id = find_trial_run(context.tracking_uri, context.parent_run_id, spec.trial_id)
    tags = run_tags(variant=spec.variant, fold=spec.fold, sweep_id=context.sweep_id,
                    trial_id=spec.trial_id)
    return TrialRun(context.tracking_uri, context.experiment, parent_run_id=context.parent_run_id,
                    run_name=f"{spec.variant}/fold{spec.fold}", tags=tags, run_id=run_id)


def load_data(config: TrialConfig, context: SweepContext, keys: FoldKeys) -> FoldCases:
    """The preprocessed cases of ``keys``: train on ``keys.train``, evaluate ``keys.test``."""
    refs = {ref.key: ref for ref in load_cohort(Path(context.cohort))}
    return load_fold_cases(refs, keys.train, keys.test, steps=config.preprocessing.steps,
                           cache_root=Path(context.cache_root),
                           max_lesion_loss=config.preprocessing.max_lesion_loss)


def lesion_loss_rows(data: FoldCases) -> list[dict[str, float | str]]:
    """What preprocessing took of each case's lesion, for every case of the fold."""
    rows: list[dict[str, float | str]] = []
    for role, keys, cases in (("train", data.train_keys, data.train),
                              ("test", data.eval_keys, data.eval)):
        for key, case in zip(keys, cases, strict=True):
            loss = case.lesion_loss
            rows.append({"case": key, "role": role, "lesion_voxels": loss.lesion_voxels,
                         "outside_brain": loss.outside_brain, "outside_crop": loss.outside_crop,
                         "lost_fraction": loss.fraction})
    return rows


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
    built = parts.training_parts(config, data.class_counts)
    scaler = grad_scaler(device, config.train.amp)
    start = 0
    if (checkpoint_dir / CHECKPOINT_FILE).exists():
        start = load_checkpoint(checkpoint_dir, model=built.model, optimizer=built.optimizer,
                                schedule=built.schedule, scaler=scaler)
        logger.info("resuming from iteration %d", start)
    train(built.model, built.loss, built.optimizer, built.schedule,
          parts.patch_batches(config, data.train), device=device,
          checkpoint_dir=checkpoint_dir, on_progress=on_progress, start_iteration=start,
          scaler=scaler, **parts.train_arguments(config))
    return built.model


def fit(
    request: TrialRequest,
    run: TrialRun,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    report: Callable[[Mapping[str, float], Path | None], None],
) -> tuple[torch.nn.Module, FoldCases]:
    """Train the trial's network, logging curves to ``run``; a NaN loss marks it FAILED."""
    config = request.spec.config
    data = load_data(config, request.context, request.fold(request.spec.fold))
    run.log_config(config.model_dump(mode="json"))
    run.log_dataset(**cohort_dataset(request.context, request.fold(request.spec.fold)))
    n0, n1 = data.class_counts
    run.log_metrics({"train_background_voxels": float(n0), "train_lesion_voxels": float(n1)},
                    step=0)
    run.log_per_patient(lesion_loss_rows(data), "lesion_loss.csv")

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
    return model, data


def evaluate_fold(model: torch.nn.Module, data: FoldCases, config: TrialConfig, *,
                  device: torch.device) -> Iterator[CaseEvaluation]:
    """Evaluate ``data.eval`` with the trial's inference settings, case by case."""
    return iter(evaluate_cases(
        model, data.eval, data.eval_refs, inference=parts.inference(config),
        patch_size=parts.patch_size(config), threshold=config.eval.threshold, device=device,
        amp=config.train.amp is not False))


def evaluate_and_log(model: torch.nn.Module, data: FoldCases, config: TrialConfig,
                     run: TrialRun, *, device: torch.device) -> FoldOutcome:
    """Evaluate the held-out patients; log per-patient rows, fold means, figures, model."""
    rows = []
    started = time.perf_counter()
    figures_left = config.eval.figure_patients
    evaluations = evaluate_fold(model, data, config, device=device)
    for case, evaluation in zip(data.eval, evaluations, strict=True):
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
    run.log_learning_curves()
    run.log_model(model.cpu(), config.model_dump(mode="json"))
    return FoldOutcome(run_id=run.run_id, fold_means=means, rows=rows)

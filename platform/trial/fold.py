"""One fold trial: a training on a fold's training patients, evaluations of its test patients.

Kept apart from :mod:`platform.trial.run` (which only knows where progress goes: Ray Tune or
the console) so each step reads top to bottom and can be tested alone. Every part is
built through :mod:`platform.trial.parts` from the validated config; the loss-weight
statistics N0/N1 come from the fold's training patients only.

Work is found by its key (:mod:`platform.sweep.keys`): :func:`train_or_reuse` takes a
finished training of the same key from the store, or trains under a claim on the key
(:mod:`platform.tracking.claims`) so that no two sweeps train it at once; each
evaluation of the request is likewise reused when finished, else run and logged.

One name per step::

    train_or_reuse -> train_and_log (under the claim) -> train_fold (the loop, no logging)
    evaluate_or_reuse -> evaluate_and_log -> predict_fold (tiled inference + scores)
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from data_pipeline.cohort.cohort import load_cohort
from platform.config.request import FoldKeys, SweepContext, TrialRequest, TrialSpec
from platform.config.trial import TrialConfig
from platform.evaluation.cases import CaseEvaluation, Scoring, evaluate_cases, fold_means
from platform.evaluation.metrics import MODEL_SCORES
from platform.evaluation.nnunet import nnunet_summary
from platform.postprocessing.choice import case_scores
from platform.report.figures.contours import contour_figure
from platform.report.figures.curves import log_learning_curves
from platform.tracking import TrialRun, find_trial_run, load_trial_model, run_tags
from platform.tracking.claims import TrainingClaim
from platform.tracking.store import ensure_experiment, mlflow_client
from platform.tracking.sweep_lock import Invocation
from platform.tracking.tags import EVALUATION, TRAINING
from platform.tracking.work import (
    FinishedRun,
    find_finished,
    link_evaluation,
)
from platform.trial import parts
from platform.trial.data import FoldCases, load_fold_cases
from platform.trial.portable_model import MODEL_CODE
from platform.trial.stops import TrainingStopped
from platform.trial.training import (
    CHECKPOINT_FILE,
    Progress,
    grad_scaler,
    load_checkpoint,
    seed_everything,
    train,
)

__all__ = [
    "FAILURE_FILE", "FoldOutcome", "Reporter", "cohort_dataset", "evaluate_and_log",
    "evaluate_or_reuse", "evaluate_with",
    "evaluation_claim", "lesion_loss_rows", "load_data", "model_name", "open_run",
    "open_training_run", "predict_fold", "train_and_log", "train_fold", "train_or_reuse",
    "training_claim",
]

logger = logging.getLogger(__name__)

FAILURE_FILE = "failure.json"
"""Written beside the checkpoint when a trial stopped for good (a NaN loss): not retried."""


class Reporter(Protocol):
    """Where a trial's progress and checkpoints go (Ray Tune, or the console), and where
    this attempt runs."""

    def restore_dir(self) -> Path | None: ...

    def report(self, metrics: Mapping[str, float], checkpoint_dir: Path | None) -> None: ...

    def placement(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class FoldOutcome:
    """What a finished evaluation reports: fold means, per-patient rows, its training."""

    run_id: str
    fold_means: dict[str, float]
    rows: list[dict[str, float | str]]
    training_run_id: str
    reused: bool = False
    """Taken from the store (``run_id`` is then the link run; ``rows`` are empty)."""


def _child_run(request: TrialRequest, *, trial_id: str, variant: str, run_name: str,
               tags: dict[str, str], kind: str) -> TrialRun:
    context = request.context
    run_id = None
    if context.parent_run_id:
        run_id = find_trial_run(context.tracking_uri, context.parent_run_id, trial_id)
    all_tags = {**run_tags(variant=variant, fold=request.spec.fold, sweep_id=context.sweep_id,
                           trial_id=trial_id), **tags}
    return TrialRun(context.tracking_uri, context.experiment, parent_run_id=context.parent_run_id,
                    run_name=run_name, tags=all_tags, run_id=run_id, kind=kind)


def open_training_run(request: TrialRequest) -> TrialRun:
    """The training's MLflow child run (``run_kind=training``); a retry reopens it."""
    spec = request.spec
    return _child_run(request, trial_id=request.training_id, variant=spec.variant,
                      run_name=f"{spec.variant}/fold{spec.fold}/training",
                      tags={"training_key": spec.training_key}, kind=TRAINING)


def open_run(request: TrialRequest, spec: TrialSpec | None = None,
             *, training: FinishedRun | str | None = None) -> TrialRun:
    """The evaluation's MLflow child run (``run_kind=evaluation``); a retry reopens it."""
    spec = spec or request.spec
    tags = {"evaluation_key": spec.evaluation_key, "training_key": spec.training_key}
    if training is not None:
        run_id = training.run_id if isinstance(training, FinishedRun) else training
        tags["training_run"] = run_id
        model_uri = _model_uri(request.context.tracking_uri, run_id)
        if model_uri:
            tags["model_uri"] = model_uri
    return _child_run(request, trial_id=spec.trial_id, variant=spec.variant,
                      run_name=f"{spec.variant}/fold{spec.fold}", tags=tags, kind=EVALUATION)


def _model_uri(uri: str, training_run_id: str) -> str:
    return str(mlflow_client(uri).get_run(training_run_id).data.tags.get("model_uri", ""))


def model_name(variant: str, fold: int) -> str:
    """A trial's logged model name, as the Models tab lists it: ``<variant>-fold<k>``."""
    return f"{variant}-fold{fold}"


def load_data(config: TrialConfig, context: SweepContext, keys: FoldKeys, *,
              train: bool = True) -> FoldCases:
    """The preprocessed cases of ``keys``: train on ``keys.train``, evaluate ``keys.test``
    (``train=False``: the test cases only, for a training taken from the store)."""
    refs = {ref.key: ref for ref in load_cohort(Path(context.cohort))}
    return load_fold_cases(refs, keys.train if train else (), keys.test,
                           steps=config.preprocessing.steps,
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


def train_fold(
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
    train(built, parts.patch_batches(config, data.train), config.train, device=device,
          checkpoint_dir=checkpoint_dir, on_progress=on_progress, start_iteration=start,
          scaler=scaler)
    return built.model


def train_and_log(
    request: TrialRequest,
    run: TrialRun,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    report: Callable[[Mapping[str, float], Path | None], None],
) -> tuple[torch.nn.Module, FoldCases]:
    """Train the request's network, logging curves, weights and model to the training
    ``run``; a NaN or diverging loss (:class:`~platform.trial.stops.TrainingStopped`) marks
    it FAILED with the reason and its traceback (``failure.txt``)."""
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
        model = train_fold(config, data, device=device, checkpoint_dir=checkpoint_dir,
                         on_progress=on_progress)
    except TrainingStopped as err:  # a NaN or diverging loss: not retried
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (checkpoint_dir / FAILURE_FILE).write_text(json.dumps({"reason": err.reason}))
        run.set_failed(err.reason, details="".join(traceback.format_exception(err)))
        raise
    run.log_metrics({"train_seconds": time.perf_counter() - started}, step=None)
    log_learning_curves(run)
    run.log_model(model.cpu(), config.model_dump(mode="json"), code=MODEL_CODE,
                  name=model_name(request.spec.variant, request.spec.fold))
    return model.to(device), data


def training_claim(request: TrialRequest) -> TrainingClaim:
    """The claim on the request's training key; its owner is this driver invocation's
    training, so a retried trial owns its earlier claim and another invocation never
    does."""
    return _claim(request, request.spec.training_key, request.training_id)


def evaluation_claim(request: TrialRequest, spec: TrialSpec) -> TrainingClaim:
    """The claim on ``spec``'s evaluation key (two sweeps sharing it evaluate it once)."""
    return _claim(request, spec.evaluation_key, spec.trial_id)


def _claim(request: TrialRequest, key: str, work: str) -> TrainingClaim:
    context = request.context
    invocation = context.invocation or Invocation.current().id
    lock = (context.sweep_lock, invocation) if context.sweep_lock else None
    return TrainingClaim(context.tracking_uri, context.experiment, key,
                         owner=f"{invocation}:{work}", stale_after_s=context.claim_stale_after_s,
                         poll_s=context.claim_poll_s, lock=lock)


def train_or_reuse(
    request: TrialRequest,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    report: Callable[[Mapping[str, float], Path | None], None],
    placement: Mapping[str, str] | None = None,
) -> tuple[torch.nn.Module, FoldCases, str]:
    """The request's trained network, its fold's cases and its training run id.

    A finished training of the same key (ended after ``request.fresh_after_ms``) is
    loaded from the store; otherwise this process claims the key, waiting while another
    one trains it, and trains it here; the training run is tagged with the device and
    ``placement`` (node, GPUs) of the attempt that trained it.

    Raises:
        ValueError: the request's trial has no keys (:func:`platform.sweep.keys.keyed`).
        platform.trial.stops.TrainingStopped: the loss became NaN/Inf or diverged (run
            marked FAILED).
    """
    spec, context = request.spec, request.context
    if not spec.training_key:
        raise ValueError(f"trial {spec.trial_id} has no training key: key it with "
                         "platform.sweep.keys.keyed before running it")
    uri = context.tracking_uri
    experiment_id = ensure_experiment(mlflow_client(uri), uri, context.experiment)

    def finished() -> FinishedRun | None:
        return find_finished(uri, experiment_id, kind=TRAINING, key=spec.training_key,
                             since_ms=request.fresh_after_ms)

    claim = training_claim(request)
    done = claim.wait_or_claim(finished)
    if done is not None:
        logger.info("training %s: reusing run %s", spec.training_key, done.run_id)
        data = load_data(spec.config, context, request.fold(spec.fold), train=False)
        model, _ = load_trial_model(uri, done.run_id)
        return model.to(device), data, done.run_id
    with claim, open_training_run(request) as run:
        # Overwritten by each attempt: a retried trial shows where it finished.
        run.set_tags({"device": parts.device_name(device), **(placement or {})})
        model, data = train_and_log(request, run, device=device, checkpoint_dir=checkpoint_dir,
                          report=report)
        return model, data, run.run_id


def evaluate_or_reuse(request: TrialRequest, spec: TrialSpec, model: torch.nn.Module,
             data: FoldCases, training_run_id: str, *, device: torch.device) -> FoldOutcome:
    """Evaluate ``spec`` (one of the request's evaluations) with the trained ``model``,
    or take a finished evaluation of the same key (linked into the sweep, if any)."""
    return evaluate_with(request, spec, training_run_id, lambda run: evaluate_and_log(
        model, data, spec.config, run, device=device))


def evaluate_with(request: TrialRequest, spec: TrialSpec, training_run_id: str,
                  evaluate: Callable[[TrialRun], FoldOutcome]) -> FoldOutcome:
    """Take a finished evaluation of ``spec``'s key from the store, else claim the key and
    run ``evaluate`` on a fresh evaluation run (config and dataset logged): the reuse every
    row shares, whatever predicts its cases (our network or a baseline)."""
    context = request.context
    uri = context.tracking_uri
    experiment_id = ensure_experiment(mlflow_client(uri), uri, context.experiment)
    claim = evaluation_claim(request, spec)
    done = claim.wait_or_claim(lambda: find_finished(
        uri, experiment_id, kind=EVALUATION, key=spec.evaluation_key,
        since_ms=request.fresh_after_ms))
    if done is not None:
        link = done.run_id if context.parent_run_id is None else link_evaluation(
            uri, parent_run_id=context.parent_run_id, source=done, variant=spec.variant,
            fold=spec.fold, sweep_id=context.sweep_id, trial_id=spec.trial_id)
        metrics = mlflow_client(uri).get_run(link).data.metrics
        return FoldOutcome(run_id=link, fold_means=dict(metrics), rows=[],
                           training_run_id=training_run_id, reused=True)
    with claim, open_run(request, spec, training=training_run_id) as run:
        run.log_config(spec.config.model_dump(mode="json"))
        run.log_dataset(**cohort_dataset(context, request.fold(spec.fold)))
        return evaluate(run)


def predict_fold(model: torch.nn.Module, data: FoldCases, config: TrialConfig, *,
                  device: torch.device) -> Iterator[CaseEvaluation]:
    """Evaluate ``data.eval`` with the trial's inference settings, case by case."""
    return iter(evaluate_cases(
        model, data.eval, data.eval_refs, Scoring.of(config), device=device,
        extra_scores=case_scores(config)))


def evaluate_and_log(model: torch.nn.Module, data: FoldCases, config: TrialConfig,
                     run: TrialRun, *, device: torch.device) -> FoldOutcome:
    """Evaluate the held-out patients; log per-patient rows, fold means and figures."""
    rows = []
    started = time.perf_counter()
    figures_left = config.eval.figure_patients
    evaluations = predict_fold(model, data, config, device=device)
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
    run.log_json(nnunet_summary(rows), "summary.json")  # nnU-Net v2's schema, this fold
    model_uri = run.tags.get("model_uri") or None
    scores = {k: v for k, v in means.items() if k in MODEL_SCORES}
    run.log_metrics(scores, step=None, model_uri=model_uri)  # the model's scores, too
    run.log_metrics({k: v for k, v in means.items() if k not in MODEL_SCORES}, step=None)
    if model_uri:
        run.log_model_reference(model_uri)  # runs:/<evaluation run id>/model loads it
    run.set_tags({"device": parts.device_name(device)})
    training_run = run.tags.get("training_run", "")
    return FoldOutcome(run_id=run.run_id, fold_means=means, rows=rows,
                       training_run_id=training_run)


def cohort_dataset(context: SweepContext, fold: FoldKeys) -> dict[str, Any]:
    """The cohort as an MLflow dataset input of a trial on ``fold`` (``TrialRun.log_dataset``).

    Name: the cohort folder's name; digest: the data fingerprint of the work keys
    (:func:`platform.sweep.keys.data_fingerprint`); profile: case counts only (no keys).
    """
    return {"name": Path(context.cohort).name, "digest": context.data_fingerprint,
            "source": context.cohort,
            "profile": {"cases": sum(1 for _ in (*fold.train, *fold.test)),
                        "train_cases": len(fold.train), "test_cases": len(fold.test)},
            "context": f"fold {fold.index}"}


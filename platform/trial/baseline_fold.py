"""A baseline's fold trial: trained and predicted its own way, scored exactly as our rows.

Why beside :mod:`platform.trial.fold`: a baseline row (``baseline: nnunet``) shares our
rows' whole machinery: the fold's patients, the training and evaluation keys, the claims
that keep two sweeps from training one key twice, the reuse of finished work, the MLflow
runs. Only what happens inside the training differs: the baseline's own runner
(:data:`platform.trial.baselines.BASELINES`) trains on the fold's training patients and
writes masks of its test patients on each scan's original grid; the evaluation reads
them back and scores them with :func:`platform.evaluation.cases.score_prediction`, the
scoring of every row (same metrics, same brain region, no voxel left out).

The training run holds the baseline's own files: for nnU-Net, its predictions and its
own ``summary.json`` (``nnunet/predictions/``), the trained fold's
``checkpoint_final.pth``, its plans, dataset and training log (``nnunet/``). A reused
training's predictions are downloaded from that run; each evaluation run holds our
``summary.json`` and nnU-Net's (``nnunet_summary.json``) side by side.
"""

from __future__ import annotations

import json
import logging
import math
from functools import partial
from pathlib import Path

import torch

from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.io.labels import read_prediction
from platform.config.request import TrialRequest, TrialSpec
from platform.evaluation.cases import fold_means, score_prediction
from platform.evaluation.nnunet import nnunet_summary
from platform.postprocessing.choice import case_scores
from platform.tracking import TrialRun
from platform.tracking.artifacts import download_folder
from platform.tracking.store import ensure_experiment, mlflow_client
from platform.tracking.tags import TRAINING
from platform.tracking.work import find_finished
from platform.trial import parts
from platform.trial.baselines import BASELINES
from platform.trial.fold import (
    FoldOutcome,
    Reporter,
    cohort_dataset,
    evaluate_with,
    open_training_run,
    training_claim,
)

__all__ = ["PREDICTIONS", "baseline_train_or_reuse", "evaluate_predictions",
           "run_baseline_trial"]

logger = logging.getLogger(__name__)

PREDICTIONS = "nnunet/predictions"
"""The training run's folder of predicted masks (``<case key>.nii.gz``) and the baseline's
own ``summary.json``."""
_SUMMARY = "summary.json"


def run_baseline_trial(request: TrialRequest, reporter: Reporter, *, work_dir: Path,
                       device: torch.device) -> tuple[FoldOutcome, ...]:
    """Train (or reuse) the request's baseline fold and run its evaluations.

    Returns:
        One outcome per evaluation, in ``request.evaluations`` order.
    """
    predictions, training_run_id = baseline_train_or_reuse(
        request, work_dir=work_dir, device=device, placement=reporter.placement())
    outcomes = tuple(
        evaluate_with(request, spec, training_run_id,
                      partial(evaluate_predictions, request, spec, predictions, training_run_id))
        for spec in request.evaluations)
    reporter.report({**outcomes[0].fold_means, "done": 1.0}, None)
    return outcomes


def baseline_train_or_reuse(request: TrialRequest, *, work_dir: Path, device: torch.device,
                            placement: dict[str, str]) -> tuple[Path, str]:
    """The fold's predictions folder and the training run that made it.

    A finished training of the same key is reused (its predictions downloaded into
    ``work_dir``); otherwise this process claims the key and runs the baseline here.
    """
    spec, context = request.spec, request.context
    baseline = spec.config.baseline
    if baseline is None or not spec.training_key:
        raise ValueError(f"trial {spec.trial_id} is not a keyed baseline trial")
    uri = context.tracking_uri
    experiment_id = ensure_experiment(mlflow_client(uri), uri, context.experiment)
    claim = training_claim(request)
    done = claim.wait_or_claim(lambda: find_finished(
        uri, experiment_id, kind=TRAINING, key=spec.training_key,
        since_ms=request.fresh_after_ms))
    if done is not None:
        logger.info("baseline training %s: reusing run %s", spec.training_key, done.run_id)
        return download_folder(uri, done.run_id, PREDICTIONS, work_dir), done.run_id
    runner = BASELINES.create(baseline)
    with claim, open_training_run(request) as run:
        run.set_tags({"device": parts.device_name(device), "baseline": baseline.name,
                      **placement})
        run.log_config(spec.config.model_dump(mode="json"))
        run.log_dataset(**cohort_dataset(context, request.fold(spec.fold)))
        result = runner(baseline.params, context=context, fold=request.fold(spec.fold),
                        training_key=spec.training_key, device=device)
        run.log_metrics({"train_seconds": result.train_seconds,
                         "predict_seconds": result.predict_seconds}, step=None)
        run.log_files(result.predictions, PREDICTIONS)
        for path, folder in result.artifacts():
            run.log_artifact(path, folder)
        return result.predictions, run.run_id


def evaluate_predictions(request: TrialRequest, spec: TrialSpec, predictions: Path,
                         training_run_id: str, run: TrialRun) -> FoldOutcome:
    """Score the baseline's masks of the fold's test patients on each scan's original
    grid; log per-patient rows, fold means, our ``summary.json`` and the baseline's."""
    context = request.context
    refs = {ref.key: ref for ref in load_cohort(Path(context.cohort))}
    test = request.fold(spec.fold).test
    timing = mlflow_client(context.tracking_uri).get_run(training_run_id).data.metrics
    seconds = timing.get("predict_seconds", math.nan) / max(1, len(test))
    extra = case_scores(spec.config)
    rows = []
    for key in test:
        original = load_case(refs[key])
        full = read_prediction(predictions / f"{key}.nii.gz", original.geometry,
                               original.lesion.shape, case_key=key)
        # Seconds: the baseline's prediction of the fold (its export included) per case;
        # patches: its own tiling, not counted here.
        rows.append(score_prediction(original, full, seconds=seconds, patches=math.nan,
                                     lesion_lost=0.0, extra_scores=extra))
    means = fold_means(rows)
    run.log_per_patient(rows)
    run.log_json(nnunet_summary(rows), _SUMMARY)  # ours, on the original grid
    own = predictions / _SUMMARY
    if own.exists():
        run.log_json(json.loads(own.read_text()), f"nnunet_{_SUMMARY}")  # the baseline's
    run.log_metrics(means, step=None)
    run.set_tags({"baseline": spec.config.baseline.name if spec.config.baseline else ""})
    return FoldOutcome(run_id=run.run_id, fold_means=means, rows=rows,
                       training_run_id=training_run_id)

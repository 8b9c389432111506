"""One Optuna search sample: a configuration scored on validation patients, fold by fold.

Why folds are looped inside the sample: OptunaSearch refuses grid axes, so a searched
configuration cannot be expanded into one Ray trial per fold. Each fold trains on its
training patients minus a validation split and is scored on that split only; the test
fold is never loaded, so nothing of it reaches the objective. The case keys of each
fold's split are logged (``cases/fold<k>.json``) so anyone can check that. After each fold
the running mean of the search metric is reported with ``folds_done`` so ASHA, the median
rule or a pruner can stop the sample early, with a checkpoint of the scores so far: a
sample retried after a crash (or a resumed search) goes on at its next fold, logging into
the same MLflow run. A training that stops for good (a NaN or diverging loss) ends the
run FAILED with its reason and raises, for the trainable to end the sample with.
"""

from __future__ import annotations

import json
import logging
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path

import torch

from platform.config.request import TrialRequest
from platform.evaluation.metrics import (
    AVD,
    DICE,
    HD95,
    PRECISION,
    SENSITIVITY,
    SPECIFICITY,
    summarize,
)
from platform.tracking import TrialRun, run_tags
from platform.trial.fold import Reporter, load_data, predict_fold, train_fold
from platform.trial.stops import TrainingStopped

__all__ = ["PROGRESS_FILE", "VALIDATION_METRICS", "run_search_sample"]

logger = logging.getLogger(__name__)

VALIDATION_METRICS: dict[str, str] = {
    "val_dice": DICE, "val_sensitivity": SENSITIVITY, "val_specificity": SPECIFICITY,
    "val_precision": PRECISION, "val_hd95": HD95, "val_avd": AVD,
}
"""``search.metric`` -> the per-patient metric it averages over the validation patients."""


def _run_name(sample: Mapping[str, object]) -> str:
    return "search/" + "_".join(
        f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
        for k, v in sample.items())


PROGRESS_FILE = "search_progress.json"
"""A sample's checkpoint: its MLflow run and the score of every fold done."""


def _restored(reporter: Reporter) -> tuple[list[float], str | None]:
    folder = reporter.restore_dir()
    if folder is None or not (folder / PROGRESS_FILE).exists():
        return [], None
    progress = json.loads((folder / PROGRESS_FILE).read_text())
    return [float(score) for score in progress["scores"]], progress["run_id"]


def run_search_sample(
    request: TrialRequest,
    *,
    search_trial_id: str,
    device: torch.device,
    reporter: Reporter,
) -> float:
    """Train and validate the request's config (its sample applied) on each inner fold,
    from the first fold its last checkpoint had not done.

    Returns:
        The mean of the search metric over the inner folds (the search objective).
    """
    config, context, metric = request.spec.config, request.context, request.search_metric
    if metric is None or not request.inner_folds:
        raise ValueError("a search sample needs request.search_metric and inner_folds")
    outer = -1 if request.outer_fold is None else request.outer_fold
    tags = {**run_tags(variant="search", fold=outer, sweep_id=context.sweep_id,
                       trial_id=search_trial_id), "outer_fold": str(outer)}
    scores, run_id = _restored(reporter)
    if scores:
        logger.info("search sample %s resumes after fold %d", search_trial_id, len(scores))
    with TrialRun(context.tracking_uri, context.experiment, parent_run_id=context.parent_run_id,
                  run_name=_run_name(request.sample), tags=tags, run_id=run_id) as run:
        if run_id is None:
            run.log_config(config.model_dump(mode="json"))
        for done, inner in enumerate(request.inner_folds, start=1):
            if done <= len(scores):
                continue
            data = load_data(config, context, inner)
            with tempfile.TemporaryDirectory(prefix="search-fold-") as scratch:
                cases = Path(scratch) / f"fold{inner.index}.json"
                cases.write_text(json.dumps({"outer_fold": outer, "fold": inner.index,
                                             "train": list(data.train_keys),
                                             "validation": list(data.eval_keys)}))
                run.log_artifact(cases, "cases")
                try:
                    model = train_fold(config, data, device=device,
                                       checkpoint_dir=Path(scratch),
                                       on_progress=lambda progress: None)
                except TrainingStopped as err:  # the run says why, as a grid trial's does
                    run.set_failed(err.reason, details="".join(traceback.format_exception(err)))
                    raise
            values = [float(e.row[VALIDATION_METRICS[metric]])
                      for e in predict_fold(model, data, config, device=device)]
            scores.append(summarize(values)[0])
            progress = {metric: summarize(scores)[0], f"fold_{metric}": scores[-1]}
            run.log_metrics(progress, step=done)
            with tempfile.TemporaryDirectory(prefix="search-progress-") as checkpoint:
                (Path(checkpoint) / PROGRESS_FILE).write_text(
                    json.dumps({"scores": scores, "run_id": run.run_id}))
                reporter.report({**progress, "folds_done": float(done)}, Path(checkpoint))
    return summarize(scores)[0]

"""One trial: train a (variant, fold), evaluate its held-out patients, log it to MLflow.

The same function runs under Ray Tune (:func:`trainable`) and alone for debugging::

    python -m platform.trial sweeps/quickstart.yaml --variant final --fold 0

Why the split between :func:`run_trial` and the reporters: the trial is a plain function
of its validated config; only the reporter knows whether progress goes to Ray Tune
(``tune.report`` with a directory checkpoint, resumed through ``tune.get_checkpoint``)
or to a progress bar and a checkpoint folder on disk.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch

from platform.config.request import TrialRequest
from platform.trial.baseline_fold import run_baseline_trial
from platform.trial.fold import (
    FAILURE_FILE,
    FoldOutcome,
    Reporter,
    evaluate_or_reuse,
    open_run,
    train_or_reuse,
)
from platform.trial.parts import configure_threads, trial_device
from platform.trial.stops import TrainingStopped

__all__ = ["ConsoleReporter", "fail_evaluations", "run_trial"]

logger = logging.getLogger(__name__)


class ConsoleReporter:
    """A progress bar and a checkpoint folder on disk: for ``python -m platform.trial``."""

    def __init__(self, checkpoint_dir: Path, *, iterations: int) -> None:
        from tqdm import tqdm

        self.checkpoint_dir = checkpoint_dir
        self._bar = tqdm(total=iterations, unit="it", desc="training", dynamic_ncols=True)

    def restore_dir(self) -> Path | None:
        return self.checkpoint_dir if (self.checkpoint_dir / "checkpoint.pt").exists() else None

    def placement(self) -> dict[str, str]:
        return {}

    def report(self, metrics: Mapping[str, float], checkpoint_dir: Path | None) -> None:
        if "iteration" in metrics:
            self._bar.update(int(metrics["iteration"]) - self._bar.n)
            self._bar.set_postfix(loss=f"{metrics['train_loss']:.4f}", lr=f"{metrics['lr']:.2e}")
            return
        self._bar.close()
        logger.info("fold means: %s", {k: round(v, 4) for k, v in metrics.items()})



def run_trial(request: TrialRequest, reporter: Reporter, *, work_dir: Path,
              device: torch.device | None = None) -> tuple[FoldOutcome, ...]:
    """Train (or reuse) one training and run its evaluations; log everything to MLflow.

    Args:
        request: the trial, validated and keyed; ``request.evaluations`` share its training.
        work_dir: where this attempt writes its checkpoints before reporting them.
        device: where to train (the GPU Ray assigned); None: :func:`trial_device`.

    Returns:
        One outcome per evaluation, in ``request.evaluations`` order.

    Raises:
        platform.trial.stops.TrainingStopped: the loss became NaN/Inf or diverged; the
            training run and every evaluation run end FAILED with the reason (Table 1
            shows ``failed: <reason>``). A retry could not fix it: the caller ends the
            trial without one (:mod:`platform.tune.trainable`).
    """
    configure_threads(request.spec.config, request.context)
    if request.spec.config.baseline is not None:  # trained and predicted its own way
        return run_baseline_trial(request, reporter, work_dir=work_dir,
                                  device=device or trial_device(request.context))
    checkpoint_dir = work_dir / "checkpoint"
    restored = reporter.restore_dir()
    if restored is not None and restored != checkpoint_dir:
        shutil.copytree(restored, checkpoint_dir, dirs_exist_ok=True)
    device = device or trial_device(request.context)
    try:
        if (checkpoint_dir / FAILURE_FILE).exists():
            reason = json.loads((checkpoint_dir / FAILURE_FILE).read_text())["reason"]
            raise TrainingStopped(f"{reason} (stopped earlier; not retried)")
        model, data, training_run = train_or_reuse(request, device=device,
                                                  checkpoint_dir=checkpoint_dir,
                                                  report=reporter.report,
                                                  placement=reporter.placement())
    except TrainingStopped as err:
        fail_evaluations(request, err.reason)
        raise
    outcomes = tuple(evaluate_or_reuse(request, spec, model, data, training_run, device=device)
                     for spec in request.evaluations)
    reporter.report({**outcomes[0].fold_means, "done": 1.0}, None)
    return outcomes


def fail_evaluations(request: TrialRequest, reason: str) -> None:
    """End every evaluation run of ``request`` FAILED with ``reason``: its training stopped
    for good, and Table 1 then says why each fold is missing."""
    for spec in request.evaluations:
        with open_run(request, spec) as run:
            run.set_failed(reason)

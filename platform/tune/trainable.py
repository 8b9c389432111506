"""The Ray Tune trainable: one trial request in, its reports and checkpoints out to Ray.

The trainable is a plain function of the config dict (``{"request": ..., "sample": ...}``):
it validates the request first, takes the GPU Ray assigned, and hands the work to the
trial stage (:mod:`platform.trial.run` for a training and its evaluations,
:mod:`platform.trial.search_sample` for a search sample). The reporter here is the only
place a trial talks to Ray Tune.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from platform.config.request import TrialRequest
from platform.trial.parts import configure_threads, trial_device
from platform.trial.run import run_trial
from platform.trial.search_sample import run_search_sample
from platform.trial.stops import TrainingStopped
from platform.tune.display import FAILURE_REASON

__all__ = ["RayReporter", "stopped_result", "trainable"]

logger = logging.getLogger(__name__)

class RayReporter:
    """Progress to Ray Tune; each checkpoint is reported as a directory checkpoint."""

    def __init__(self) -> None:
        self._restored: ExitStack | None = None

    def restore_dir(self) -> Path | None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        self._restored = ExitStack()
        return Path(self._restored.enter_context(checkpoint.as_directory()))

    def placement(self) -> dict[str, str]:
        """Where this attempt runs: the node's address and the GPUs Ray assigned."""
        gpus = [str(gpu) for gpu in ray.get_gpu_ids()]
        return {"ray_node_ip": ray.util.get_node_ip_address(),
                "ray_gpu_ids": ",".join(gpus) or "none"}

    def report(self, metrics: Mapping[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = (
            tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        )
        tune.report(dict(metrics), checkpoint=checkpoint)


def trainable(config: dict[str, Any]) -> None:
    """Ray Tune entry: ``config = {"request": TrialRequest, "sample": {knob: value}}``.

    The request is validated here, first; a search sample (non-empty ``sample``) loops
    the folds on validation patients, a grid trial trains and tests one fold.
    """
    request = TrialRequest.from_ray(config)
    # The GPU Ray assigned this trial (one, or a share of one), or the CPU.
    device = trial_device(request.context, ray.get_gpu_ids())
    if device.type == "cuda":
        torch.cuda.set_device(device)  # pinned copies and cuDNN plans on that GPU too
    try:
        if request.search_metric is not None:
            configure_threads(request.spec.config, request.context)
            run_search_sample(request, search_trial_id=tune.get_context().get_trial_id(),
                              device=device, reporter=RayReporter())
            return
        work_dir = Path(tune.get_context().get_trial_dir()) / "work"
        run_trial(request, RayReporter(), work_dir=work_dir, device=device)
    except TrainingStopped as err:
        # Raised, the error would be retried max_failures times with the same result:
        # the trial ends here, its last result saying why (the display prints it once).
        logger.warning("trial stopped: %s", err.reason, exc_info=True)
        tune.report(stopped_result(err.reason, request.search_metric, request.search_mode))


def stopped_result(reason: str, metric: str | None, mode: str) -> dict[str, Any]:
    """The last result of a trial whose training stopped for good: ``failure_reason``;
    a search sample also reports its metric's worst value (Ray Tune refuses a search's
    result without it). The study records the sample PRUNED with its reason
    (:class:`platform.tune.tuner.StopAwareOptunaSearch`)."""
    result: dict[str, Any] = {FAILURE_REASON: reason}
    if metric is not None:
        result[metric] = float("-inf") if mode == "max" else float("inf")
    return result

"""Where and how a sweep's trials run: resources, Ray, MLflow tracking, retries.

Why apart from the trial's knobs: none of these change a trial's result, so they stay
out of trial ids and the sweep id (:mod:`platform.expand`); a sweep can resume on
another machine or cluster with other settings here.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from platform.config.types import AbsPath, Name, NonNegative, Positive, Section, fail

__all__ = ["FailureConfig", "RayConfig", "ResourcesConfig", "ReuseConfig", "TrackingConfig"]


class ResourcesConfig(Section):
    """What one trial reserves from Ray, and how many trials run at once (null: as fit)."""

    cpus_per_trial: Annotated[float, Field(gt=0.0)] = 1.0
    """CPUs Ray reserves per trial; also its torch threads unless ``train.threads``."""
    gpus_per_trial: Annotated[float, Field(ge=0.0)] = 0.0
    """GPUs Ray reserves per trial (1 on a GPU machine)."""
    max_concurrent_trials: Positive | None = None
    """Trials at once; null: as many as the resources fit."""


class TrackingConfig(Section):
    """MLflow: ``uri`` null means ``MLFLOW_TRACKING_URI`` or the tracking module's default."""

    uri: str | None = None
    """MLflow tracking URI; null: ``MLFLOW_TRACKING_URI``, else SQLite under ``runs/``."""
    experiment: Name | None = None
    """MLflow experiment; null: the sweep's name."""


def _ray_address(value: str) -> str:
    if value in ("local", "auto") or re.match(r"^(ray://)?[\w.-]+:\d+$", value):
        return value
    raise PydanticCustomError("bad_address", "not a Ray address",
                              {"allowed": ("local", "auto", "HOST:PORT", "ray://HOST:PORT")})


class RayConfig(Section):
    """Where trials run: a local Ray started for the sweep, or an existing cluster."""

    address: Annotated[str, AfterValidator(_ray_address)] = "local"
    """``local`` starts a Ray for the sweep; ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``
    join a cluster."""
    num_cpus: Positive | None = None
    """CPUs of a local Ray; null: the machine's."""
    num_gpus: NonNegative | None = None
    """GPUs of a local Ray; null: the machine's."""
    object_store_mb: Annotated[int, Field(ge=75)] = 200
    """Ray's object store in MiB (trials pass little data through it)."""
    include_dashboard: bool = False
    """Start Ray's dashboard."""
    storage_path: AbsPath = Field(default="runs/ray", validate_default=True)
    """Ray Tune's state and checkpoints (the resume point)."""

    @model_validator(mode="after")
    def _local_only(self) -> RayConfig:
        if self.address != "local":
            fail("RayConfig", [((knob,), f"applies to a local Ray only (address is "
                                f"{self.address!r}): a cluster has its own resources", value, {})
                               for knob in ("num_cpus", "num_gpus")
                               if (value := getattr(self, knob)) is not None])
        return self


class FailureConfig(Section):
    """Retries of a failed trial (Ray Tune ``FailureConfig.max_failures``)."""

    max_failures: NonNegative = 2
    """Retries of a crashed trial, each from its last checkpoint (a NaN loss is not retried)."""


class ReuseConfig(Section):
    """Which finished work a sweep takes from its MLflow experiment instead of redoing it.

    A training is found by its key (everything that decides its weights), an evaluation
    by its key (the training's plus the evaluation settings and test patients); see
    ``platform/work_keys.py`` and ``sweeps/README.md``.
    """

    enabled: bool = True
    """Reuse finished trainings and evaluations with the same key (ours: a re-run or an
    added variant redoes nothing that would come out the same); ``--restart`` and
    ``--retrain`` override it per run."""
    match_code: bool = False
    """Make the git commit part of every key, so work done by other code is never reused
    (ours: off, so a fix elsewhere in the repository does not retrain a sweep; Table 1
    notes every reused run that another commit made)."""
    claim_stale_after_s: Annotated[float, Field(gt=0.0)] = 300.0
    """A claim on a training whose owner sent no heartbeat for this long is taken over
    (ours: five heartbeats; raise it when clocks of the nodes may differ by more)."""
    claim_poll_s: Annotated[float, Field(gt=0.0)] = 5.0
    """How often a trial waiting on another process's claim looks again (ours)."""

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

from platform.config_types import AbsPath, Name, NonNegative, Positive, Section, fail

__all__ = ["FailureConfig", "RayConfig", "ResourcesConfig", "TrackingConfig"]


class ResourcesConfig(Section):
    """What one trial reserves from Ray, and how many trials run at once (null: as fit)."""

    cpus_per_trial: Annotated[float, Field(gt=0.0)] = 1.0
    gpus_per_trial: Annotated[float, Field(ge=0.0)] = 0.0
    max_concurrent_trials: Positive | None = None


class TrackingConfig(Section):
    """MLflow: ``uri`` null means ``MLFLOW_TRACKING_URI`` or the tracking module's default."""

    uri: str | None = None
    experiment: Name | None = None


def _ray_address(value: str) -> str:
    if value in ("local", "auto") or re.match(r"^(ray://)?[\w.-]+:\d+$", value):
        return value
    raise PydanticCustomError("bad_address", "not a Ray address",
                              {"allowed": ("local", "auto", "HOST:PORT", "ray://HOST:PORT")})


class RayConfig(Section):
    """Where trials run: a local Ray started for the sweep, or an existing cluster."""

    address: Annotated[str, AfterValidator(_ray_address)] = "local"
    num_cpus: Positive | None = None
    num_gpus: NonNegative | None = None
    object_store_mb: Annotated[int, Field(ge=75)] = 200
    include_dashboard: bool = False
    storage_path: AbsPath = Field(default="runs/ray", validate_default=True)

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

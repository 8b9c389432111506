"""Where and how a sweep's trials run: resources, Ray, MLflow tracking, retries.

Why apart from the trial's knobs: none of these change a trial's result, so they stay
out of trial ids and the sweep id (:mod:`platform.sweep.expand`); a sweep can resume on
another machine or cluster with other settings here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from platform.config.types import Name, NonNegative, Positive, Section, StoragePath, fail

__all__ = ["RUNS_ROOT", "FailureConfig", "RayConfig", "ResourcesConfig", "ReuseConfig",
           "TrackingConfig"]

RUNS_ROOT = Path("runs")
"""Where a sweep keeps its local state by default (MLflow SQLite store, Ray, cache)."""


class ResourcesConfig(Section):
    """What one trial reserves from Ray, and how many trials run at once (null: as fit)."""

    cpus_per_trial: Annotated[float, Field(gt=0.0)] = 1.0
    """CPUs Ray reserves per trial; also its torch threads unless ``train.threads``."""
    gpus_per_trial: Annotated[float, Field(ge=0.0)] | None = None
    """GPUs Ray reserves per trial; null: 1 where Ray has GPUs, else 0 (the paper trained
    one network per GPU). A fraction (0.5, 0.25) puts several small-patch trials on one
    GPU; above 1 a whole number. The trial trains on the GPU Ray assigned it."""
    max_concurrent_trials: Positive | None = None
    """Trials at once; null: as many as the resources fit."""

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> ResourcesConfig:
        gpus = self.gpus_per_trial
        if gpus is not None and gpus > 1 and not float(gpus).is_integer():
            fail("ResourcesConfig", [(("gpus_per_trial",), "Ray shares a GPU only in "
                                      "fractions below 1; above 1 give a whole number", gpus,
                                      {})])
        return self


def _no_credentials(value: str | None) -> str | None:
    if value is not None and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@", value):
        raise PydanticCustomError(
            "credentials_in_uri", "credentials do not belong in the URI (it is logged and "
            "stored): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the "
            "environment instead")
    return value


class TrackingConfig(Section):
    """MLflow: ``uri`` null means ``MLFLOW_TRACKING_URI`` or the tracking module's default."""

    uri: Annotated[str | None, AfterValidator(_no_credentials)] = None
    """MLflow tracking URI; null: ``MLFLOW_TRACKING_URI``, else SQLite under ``runs/``. A
    cluster needs a server (``http://host:5000``); its user and password come from
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, never from this file."""
    experiment: Name | None = None
    """MLflow experiment; null: the sweep's name."""


def _endpoint(value: str | None) -> str | None:
    if value is None or re.match(r"^https?://[^/@\s]+/?$", value):
        return value.rstrip("/") if value else value
    raise PydanticCustomError("bad_endpoint", "not an S3 endpoint URL",
                              {"allowed": ("http://HOST:PORT", "https://HOST[:PORT]")})


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
    storage_path: StoragePath = Field(default="runs/ray", validate_default=True)
    """Ray Tune's state and checkpoints (the resume point): a folder, or ``s3://bucket/prefix``
    (S3, MinIO, Ceph; credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).
    A cluster needs storage every node reaches: an ``s3://`` URI or a shared mount."""
    storage_endpoint: Annotated[str | None, AfterValidator(_endpoint)] = None
    """Endpoint of an S3-compatible store (``http://minio:9000``); null:
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else AWS itself."""
    storage_shared: bool = False
    """The folder ``storage_path`` is mounted at the same path on every node (NFS, Lustre,
    CephFS); required for a folder when ``address`` joins a cluster."""
    ship_code: bool = False
    """Upload this repository to the cluster as Ray's ``working_dir`` (for nodes whose image
    lacks the code); false: workers import the repository at this path."""
    node_ip_address: str | None = None
    """This machine's address in the Ray cluster (``ray start --node-ip-address``); null:
    127.0.0.2 for a local Ray on Linux (Ray rewrites 127.0.0.1), Ray's guess for a cluster."""

    @model_validator(mode="after")
    def _local_only(self) -> RayConfig:
        if self.storage_endpoint is not None and not self.storage_path.startswith("s3://"):
            fail("RayConfig", [(("storage_endpoint",), "applies to an s3:// storage_path "
                                f"only (storage_path is {self.storage_path!r})",
                                self.storage_endpoint, {})])
        if self.address != "local":
            fail("RayConfig", [((knob,), f"applies to a local Ray only (address is "
                                f"{self.address!r}): a cluster has its own resources", value, {})
                               for knob in ("num_cpus", "num_gpus")
                               if (value := getattr(self, knob)) is not None])
        return self


class FailureConfig(Section):
    """Retries of a failed trial (Ray Tune ``FailureConfig.max_failures``)."""

    max_failures: NonNegative = 2
    """Retries of a crashed trial, each from its last checkpoint (a NaN or diverging loss
    is not retried: ``train.divergence_factor``)."""


class ReuseConfig(Section):
    """Which finished work a sweep takes from its MLflow experiment instead of redoing it.

    A training is found by its key (everything that decides its weights), an evaluation
    by its key (the training's plus the evaluation settings and test patients); see
    ``platform/sweep/keys.py`` and ``sweeps/README.md``.
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
    """A claim on a training whose owner sent no heartbeat for this long is taken over,
    and a sweep's lock whose driver on another host did (ours: five heartbeats; raise it
    when clocks of the nodes may differ by more)."""
    claim_poll_s: Annotated[float, Field(gt=0.0)] = 5.0
    """How often a trial waiting on another process's claim looks again (ours)."""

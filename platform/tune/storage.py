"""Where Ray Tune keeps a sweep: a local folder, a folder every node mounts, or S3.

Why: since Ray Tune 2.7 the node that runs a trial writes its checkpoints and results
straight to ``RunConfig.storage_path``, and the driver reads them back from there. With
a node-local folder a trial on another node fails at its first checkpoint, and again on
every retry (https://github.com/ray-project/ray/issues/37177). So a cluster needs
storage that every node reaches: ``s3://bucket/prefix`` on AWS or an S3-compatible
store (MinIO, Ceph; ``ray.storage_endpoint``), or a folder mounted at the same path on
every node (NFS, Lustre, CephFS; ``ray.storage_shared: true``). This module turns
``ray.*`` into what Ray Tune receives (a path and a ``pyarrow`` filesystem) and moves an
earlier run aside for ``--restart``; :func:`cluster_problems` refuses, before Ray
starts, a cluster address with node-local storage or a local MLflow store.

Credentials: the S3 filesystem is built WITHOUT keys, so the AWS SDK reads
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or a profile or role) in each process
that opens it. A filesystem built with explicit keys pickles them, and Ray Tune pickles
the filesystem into its experiment state in the bucket. Ray workers get the variables
from :func:`platform.tune.env.worker_runtime_env`. pyarrow is imported inside functions.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from platform.config.runtime import RayConfig

if TYPE_CHECKING:
    import pyarrow.fs

__all__ = ["ExperimentInUse", "RayStorage", "cluster_problems", "endpoint_from_environment"]

logger = logging.getLogger(__name__)

# An S3-compatible store ignores the region, but without one the AWS SDK looks it up
# (from instance metadata on some machines): a fixed default keeps the traffic to the
# endpoint alone.
_DEFAULT_REGION = "us-east-1"


def endpoint_from_environment() -> str | None:
    """``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (the AWS SDKs' variables), else None."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return None


class ExperimentInUse(RuntimeError):
    """Another driver writes this Ray Tune experiment's folder (the message names it)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.message,)


@dataclass(frozen=True)
class RayStorage:
    """Ray Tune's storage of a sweep (``ray.storage_path`` and friends), resolved.

    Attributes:
        location: an absolute folder or ``s3://bucket/prefix`` (validated by the config).
        endpoint: an S3-compatible endpoint (``http://minio:9000``); None: the
            environment's (:func:`endpoint_from_environment`), else AWS.
        shared: the folder is mounted at the same path on every node.
    """

    location: str
    endpoint: str | None = None
    shared: bool = False

    @classmethod
    def of(cls, config: RayConfig) -> RayStorage:
        """The storage a sweep's ``ray`` section names."""
        return cls(str(config.storage_path), config.storage_endpoint, config.storage_shared)

    @property
    def is_uri(self) -> bool:
        """Object storage (``s3://``) rather than a folder."""
        return "://" in self.location

    @property
    def node_local(self) -> bool:
        """Only the node that writes it can read it back (a folder not declared shared)."""
        return not self.is_uri and not self.shared

    def endpoint_url(self) -> str | None:
        """The S3 endpoint in use: ``ray.storage_endpoint``, else the environment's."""
        return self.endpoint or endpoint_from_environment()

    def filesystem(self) -> pyarrow.fs.FileSystem | None:
        """What Ray Tune gets as ``storage_filesystem``: S3 with the endpoint, or None (local).

        No keys are passed (module docstring): the AWS SDK finds them in the environment.
        """
        if not self.is_uri:
            return None
        from pyarrow import fs

        endpoint = self.endpoint_url()
        if endpoint is None:
            return fs.S3FileSystem()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        parsed = urlparse(endpoint)
        return fs.S3FileSystem(endpoint_override=parsed.netloc, scheme=parsed.scheme,
                               region=region or _DEFAULT_REGION)

    def tune_path(self) -> str:
        """``RunConfig.storage_path``: the folder, or ``bucket/prefix`` (Ray Tune wants the
        scheme stripped when it is given a filesystem)."""
        return self.location.split("://", 1)[1] if self.is_uri else self.location

    def experiment(self, name: str) -> str:
        """Where one experiment (a sweep's grid or one search) lives, on :meth:`filesystem`."""
        return posixpath.join(self.tune_path(), name)

    def describe(self, name: str) -> str:
        """The experiment's location as a person would write it (``s3://...`` or a path)."""
        return posixpath.join(self.location, name)

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold experiment ``name``'s folder for the block: one driver writes it at a time.

        A folder gets a file lock beside the experiment (``.<name>.lock``), taken without
        waiting; object storage is not locked here (the sweep lock in MLflow keeps one
        driver per sweep and store, :mod:`platform.tracking.sweep_lock`).

        Raises:
            ExperimentInUse: another process holds the lock (one line naming it).
        """
        if self.is_uri:
            yield
            return
        from filelock import FileLock, Timeout

        Path(self.location).mkdir(parents=True, exist_ok=True)
        lock = FileLock(os.path.join(self.location, f".{name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout as err:
            raise ExperimentInUse(f"Ray Tune's state {self.describe(name)} is in use by another "
                                  f"driver on this machine (lock {lock.lock_file})") from err
        try:
            yield
        finally:
            lock.release()

    def set_aside(self, name: str) -> str | None:
        """Move an earlier run's state of ``name`` out of the way (``--restart``).

        Nothing is deleted: the state is renamed ``<name>.replaced-<time>``. On S3 that is
        a copy and a delete (object stores cannot rename). Returns the new location or None.
        """
        from pyarrow import fs

        filesystem = self.filesystem() or fs.LocalFileSystem()
        path = self.experiment(name)
        if filesystem.get_file_info(path).type == fs.FileType.NotFound:
            return None
        kept = f"{path}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        if self.is_uri:
            fs.copy_files(path, kept, source_filesystem=filesystem,
                          destination_filesystem=filesystem)
            filesystem.delete_dir(path)
        else:
            filesystem.move(path, kept)
        shown = self.describe(posixpath.basename(kept))
        logger.info("--restart: the earlier state of %s is kept in %s", name, shown)
        return shown


def cluster_problems(config: RayConfig, tracking_uri: str) -> list[tuple[str, str]]:
    """Why ``config`` cannot run on a cluster with MLflow at ``tracking_uri``: ``(key, line)``.

    A cluster address (anything but ``local``) may place trials on other nodes, which
    must reach the same Ray Tune storage and the same MLflow store. A node-local folder
    or a SQLite / file MLflow store would fail the first trial that runs elsewhere (or
    silently split the runs), so it is refused before Ray starts, naming what to set.

    Args:
        tracking_uri: the MLflow URI the sweep would use (config, environment or default).
    """
    if config.address == "local":
        return []
    problems = []
    cluster = f"ray.address={config.address!r} joins a cluster whose nodes"
    if RayStorage.of(config).node_local:
        problems.append(("ray.storage_path", (
            f"{config.storage_path} is a folder on this node, but {cluster} write "
            "checkpoints there too: set ray.storage_path to s3://BUCKET/PREFIX (with "
            "ray.storage_endpoint for MinIO or Ceph), or to a folder every node mounts at "
            "the same path and ray.storage_shared=true")))
    scheme = urlparse(tracking_uri).scheme.lower()
    if scheme in ("sqlite", "file") or len(scheme) <= 1:
        problems.append(("tracking.uri", (
            f"{tracking_uri} is an MLflow store on this node, but {cluster} log to it too: "
            "set tracking.uri (or MLFLOW_TRACKING_URI) to the lab's MLflow server, "
            "http://HOST:5000 (infra/README.md), with MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD in the environment")))
    return problems

"""Which MLflow store, and how every tracking module talks to it.

Why one module: the tracking URI's precedence (config > ``MLFLOW_TRACKING_URI`` > a local
SQLite file), where a SQLite store keeps its artifacts, and the few calls every adapter
needs (a client bound to one URI, experiments created once, batched metrics, paged
searches) live here once. mlflow is imported inside the functions (about 1 s), so a
config check pays nothing for it. MLflow 3 refuses the plain file store, hence SQLite.

A SQLite store suits one machine and a few concurrent trials; for a cluster, run
``mlflow server`` (``infra/``) and use its ``http://`` URI.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "EXPERIMENT_TAGS", "artifact_location", "effective_tracking_uri", "ensure_experiment",
    "global_tracking_uri", "log_metric_batch", "mlflow_client", "read_text_artifact",
    "resolve_tracking_uri", "search_all", "sqlite_file",
]


def effective_tracking_uri(configured: str | None, default_root: Path) -> str:
    """The tracking URI a sweep would use, without creating anything (see below).

    Raises:
        ValueError: the URI carries credentials (``http://user:password@host``): it
            travels to every trial and into Ray Tune's results; the password belongs in
            ``MLFLOW_TRACKING_PASSWORD``.
    """
    uri = (configured or "").strip() or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        uri = f"sqlite:///{Path(default_root).resolve() / 'mlflow.db'}"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@", uri):
        raise ValueError("the MLflow tracking URI carries credentials (user:password@): they "
                         "would be sent to every trial and stored with Ray Tune's results; "
                         "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead")
    return uri


def resolve_tracking_uri(configured: str | None, default_root: Path) -> str:
    """Pick the tracking URI: explicit config value > ``MLFLOW_TRACKING_URI`` > SQLite.

    The precedence follows STYLE.md (config wins, the environment carries URIs only):
    a non-empty ``configured`` value wins; else a non-empty ``MLFLOW_TRACKING_URI``;
    else ``sqlite:///<default_root>/mlflow.db``. The folder of any SQLite file URI is
    created, so a fresh checkout needs no setup.

    Args:
        configured: the sweep config's ``tracking.uri`` (``None`` or ``""`` if unset).
        default_root: folder for the default SQLite store (e.g. ``runs/``).

    Raises:
        ValueError: a ``file:`` URI or a bare path, which MLflow 3 refuses ("maintenance
            mode"), unless ``MLFLOW_ALLOW_FILE_STORE`` is true; a URI with credentials.
    """
    uri = effective_tracking_uri(configured, default_root)
    scheme = urlparse(uri).scheme
    is_file_store = scheme == "file" or (len(scheme) <= 1 and uri != "databricks")
    allowed = os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in {"1", "true", "yes"}
    if is_file_store and not allowed:
        raise ValueError(
            f"tracking URI {uri!r} is a plain file store, which MLflow 3 refuses. Use "
            "'sqlite:///<folder>/mlflow.db' or an 'http://host:port' server (or set "
            "MLFLOW_ALLOW_FILE_STORE=true to force the deprecated file store)."
        )
    db_file = sqlite_file(uri)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    return uri


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a SQLite store go beside the database, not into the current folder.

    Without this MLflow puts them in ``./mlruns`` of whatever folder the process runs
    in. Servers choose their own location (``--artifacts-destination``).
    """
    db_file = sqlite_file(uri)
    if db_file is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment)
    return (db_file.resolve().parent / "mlartifacts" / slug).as_uri()


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI, or ``None`` (other stores, memory)."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return Path(uri[len("sqlite:///"):])


def mlflow_client(uri: str) -> MlflowClient:
    """A client bound to ``uri`` (mlflow imported here: it costs ~1 s at import)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: "custom_model_development"}
"""Tags of every experiment a sweep creates: MLflow 3's kind of a classic model-development
experiment (its GenAI kind opens on traces). MLflow 3.17's UI picks its landing page from
the ``workflowType`` in the URL or the browser's last choice instead
(:func:`platform.tracking.ui.ui_url`), so
the tag is for the MLflow versions and tools that read it (``mlflow/demo`` sets it)."""

def ensure_experiment(mlflow_client: MlflowClient, uri: str, name: str) -> str:
    """Get or create the experiment ``name`` (a model-development experiment,
    :data:`EXPERIMENT_TAGS`); a concurrent creator is not an error."""
    from mlflow.exceptions import MlflowException

    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return mlflow_client.create_experiment(name,
                                                   artifact_location=artifact_location(uri, name),
                                                   tags=dict(EXPERIMENT_TAGS))
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise ValueError(f"MLflow experiment {name!r} is deleted; restore it in the UI "
                         "(or `mlflow experiments restore`) or choose another experiment name")
    return experiment.experiment_id


@contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global (fluent) URI at ``uri`` for one call, then restore it.

    ``mlflow.pytorch.log_model`` and ``models:/`` URIs resolve the store from the global
    URI only (``download_artifacts(tracking_uri=...)`` is ignored for them). MLflow's
    own ``_use_tracking_uri`` restores the unset state exactly (the public getter would
    pin the resolved default), but it also rewrites ``MLFLOW_TRACKING_URI``, which is put
    back here. Private API, isolated in this one function.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        if env_before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env_before


def log_metric_batch(mlflow_client: MlflowClient, run_id: str, metrics: Mapping[str, float],
                     *, step: int, model_id: str | None = None) -> None:
    """Log several metrics at one step in one request; with ``model_id`` they are also the
    scores of that logged model (MLflow 3: shown and ranked in the Models tab)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    mlflow_client.log_batch(run_id, metrics=[Metric(k, float(v), now, step, model_id=model_id)
                                             for k, v in metrics.items()])


def search_all(mlflow_client: MlflowClient, experiment: str, filter_string: str) -> list[Any]:
    """All runs of experiment id ``experiment`` matching ``filter_string`` (pages of 1000)."""
    runs: list[Any] = []
    token = None
    while True:
        page = mlflow_client.search_runs([experiment], filter_string=filter_string,
                                         page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def read_text_artifact(mlflow_client: MlflowClient, run_id: str, path: str) -> str | None:
    """The text of artifact ``path`` of run ``run_id``, or ``None`` if the run has none.

    MLflow draws a "Downloading artifacts" progress bar for every download (a dozen per
    Table 1); reading a small text file needs none, so it is switched off for this call
    (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``, read by MLflow at each download).
    """
    folder = path.rpartition("/")[0] or None
    if path not in {f.path for f in mlflow_client.list_artifacts(run_id, folder)}:
        return None
    before = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow_client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text()
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = before

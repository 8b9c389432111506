"""Which MLflow store, and how every tracking module talks to it.

Why one module: the tracking URI's precedence (config > ``MLFLOW_TRACKING_URI`` > a local
SQLite file), where a SQLite store keeps its artifacts, and the few calls every adapter
needs (a client bound to one URI, experiments created once, batched metrics, paged
searches) live here once. mlflow is imported inside the functions (about 1 s), so a
config check pays nothing for it. MLflow 3 refuses the plain file store, hence SQLite.

A SQLite store suits one machine and a few concurrent trials; for a cluster, run
``mlflow server`` (``infra/``) and use its ``http://`` URI.

A new store is created once (issue 28): MLflow creates and migrates an empty database
in whichever process opens it first, and two processes doing so at once collide
(``table _alembic_tmp_experiments already exists``). :func:`prepare_store` opens it
under a lock (a file lock beside a SQLite database, an advisory lock on PostgreSQL);
every client made by :func:`mlflow_client` goes through it once per process, and the
others wait. :func:`store_problem` is the pre-flight check: a read-only or locked SQLite
store is one line before anything runs.
"""

from __future__ import annotations

import os
import re
import sqlite3
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
    "EXPERIMENT_TAGS", "STORE_LOCK_TIMEOUT_S", "StoreError", "artifact_location",
    "effective_tracking_uri", "ensure_experiment", "global_tracking_uri", "log_metric_batch",
    "mlflow_client", "no_progress_bar", "prepare_store", "read_text_artifact",
    "resolve_tracking_uri", "search_all", "sqlite_file", "store_problem",
]

STORE_LOCK_TIMEOUT_S = 600.0
"""Longest wait for another process that creates or migrates the same store."""
_STORE_BUSY_S = 10.0
"""How long the pre-flight check waits for a SQLite store's write lock."""
_PREPARED: set[str] = set()


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
    """A client bound to ``uri`` (mlflow imported here: it costs ~1 s at import); the
    store is created first if it is new (:func:`prepare_store`)."""
    from mlflow import MlflowClient

    prepare_store(uri)
    return MlflowClient(tracking_uri=uri)


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: "custom_model_development"}
"""Tags of every experiment a sweep creates: MLflow 3's kind of a classic model-development
experiment (its GenAI kind opens on traces). MLflow 3.17's UI picks its landing page from
the ``workflowType`` in the URL or the browser's last choice instead
(:func:`platform.tracking.ui.ui_url`), so
the tag is for the MLflow versions and tools that read it (``mlflow/demo`` sets it)."""
def prepare_store(uri: str, *, timeout_s: float = STORE_LOCK_TIMEOUT_S) -> None:
    """Create and migrate the database store at ``uri`` once, under a lock; other
    processes wait for it (up to ``timeout_s``). Once per process and URI; a server URI
    (``http://``) needs nothing (the server made its database).

    Raises:
        TimeoutError: another process held the lock for ``timeout_s`` seconds.
        StoreError: MLflow refused the store.
    """
    if uri in _PREPARED:
        return
    database = sqlite_file(uri)
    if database is not None:
        from filelock import FileLock, Timeout

        database.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{database}.lock")
        try:
            with lock.acquire(timeout=timeout_s):
                _open_store(uri)
        except Timeout as err:
            raise TimeoutError(f"{database} is being created or migrated by another process "
                               f"(lock {lock.lock_file} held for {timeout_s:.0f} s)") from err
        except PermissionError:  # a read-only folder: nobody creates a store there
            if not database.exists():
                raise
            _open_store(uri)
    elif urlparse(uri).scheme.split("+")[0] == "postgresql":
        with _advisory_lock(uri):
            _open_store(uri)
    _PREPARED.add(uri)


class StoreError(RuntimeError):
    """The MLflow store cannot be opened (the message's first line says why)."""


def _open_store(uri: str) -> None:
    """Open the store once: MLflow creates and migrates a new database here.

    Raises:
        StoreError: MLflow refused the store (an out-of-date schema, a bad database).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except MlflowException as err:
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise StoreError(lines[0]) from err


@contextmanager
def _advisory_lock(uri: str) -> Iterator[None]:
    """PostgreSQL's session advisory lock (one key per MLflow store) for the block."""
    import sqlalchemy  # MLflow's own dependency: only for a database URI

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    key = int.from_bytes(b"mlflow-store-init"[:8], "big") & 0x7FFFFFFFFFFFFFFF
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": key})
    finally:
        engine.dispose()


def store_problem(uri: str, *, busy_s: float | None = None) -> str | None:
    """Why the SQLite store at ``uri`` cannot take writes, or None (other stores, and a
    database not created yet: its folder is checked elsewhere).

    Opens the database and takes its write lock in a transaction that writes nothing
    (rolled back): a read-only file (or file system) and a store another process keeps
    locked for ``busy_s`` seconds (default :data:`_STORE_BUSY_S`) are found here, before a
    sweep starts.
    """
    busy_s = _STORE_BUSY_S if busy_s is None else busy_s
    database = sqlite_file(uri)
    if database is None or not database.exists():
        return None
    if not database.is_file():
        return f"{database} is not a file"
    if not os.access(database, os.R_OK | os.W_OK):
        return f"{database} is read-only for this user; make it writable or use another store"
    try:
        connection = sqlite3.connect(database, timeout=busy_s, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("CREATE TABLE _write_probe (x)")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as err:
        text = str(err)
        if "locked" in text or "busy" in text:
            return (f"{database} is locked by another process (no write for {busy_s:.0f} s); "
                    "wait for it to finish or use another store")
        if "readonly" in text:
            return (f"{database} is read-only (attempt to write a readonly database); make it "
                    "and its folder writable or use another store")
        return f"{database} is not a usable SQLite database: {text}"
    return None


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


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """No "Downloading artifacts" progress bar inside the block (MLflow draws one for every
    download: a dozen per Table 1, three per logged ensemble), whatever was set before
    (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``, read by MLflow at each download)."""
    before = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = before


def read_text_artifact(mlflow_client: MlflowClient, run_id: str, path: str) -> str | None:
    """The text of artifact ``path`` of run ``run_id``, or ``None`` if the run has none
    (read without a progress bar: :func:`no_progress_bar`)."""
    folder = path.rpartition("/")[0] or None
    if path not in {f.path for f in mlflow_client.list_artifacts(run_id, folder)}:
        return None
    with no_progress_bar(), tempfile.TemporaryDirectory() as tmp:
        local = mlflow_client.download_artifacts(run_id, path, tmp)
        return Path(local).read_text()


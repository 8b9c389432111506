"""Where MLflow runs are stored: the tracking URI's precedence and the SQLite layout.

No mlflow import here (the adapter is :mod:`platform.tracking`): choosing a store is a
question of configuration, answered and tested without starting MLflow.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["artifact_location", "resolve_tracking_uri", "sqlite_file"]


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
            mode"), unless ``MLFLOW_ALLOW_FILE_STORE`` is true.
    """
    uri = (configured or "").strip() or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        uri = f"sqlite:///{Path(default_root).resolve() / 'mlflow.db'}"
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



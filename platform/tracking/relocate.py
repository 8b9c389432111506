"""A SQLite store that was moved or copied: point its artifact locations at its new folder.

Why: MLflow records absolute artifact URIs (``file:///old/runs/mlartifacts/<experiment>/
<run id>/artifacts``) in the database, for every experiment, run, logged model and model
version. A ``runs/`` folder copied from a cluster node to a laptop therefore lost its
artifacts, models and report, or worse, silently read the original's files while they
still existed. MLflow has no relative artifact location for a SQLite store (a relative
path resolves against the reader's working folder), so the moved store is rewritten
once::

    stroke-store relocate runs/mlflow.db      # or: python -m platform.store relocate ...

Every ``file:`` URI under an old ``.../mlartifacts`` folder (the layout
:func:`platform.tracking.store.artifact_location` gives a SQLite store: artifacts beside
the database) is rewritten to the ``mlartifacts`` folder beside the database's new path.
Work keys, run ids, ``models:/`` URIs and tags are untouched, so reuse, ``report`` and
``predict`` carry on. Uses Python's ``sqlite3`` on MLflow's documented tables; stop any
``mlflow ui`` / sweep on the store first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARTIFACT_COLUMNS", "Relocation", "artifact_roots", "relocate_store"]

ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)
"""The columns of MLflow's SQLite schema that hold artifact URIs (MLflow 3.x)."""
_ROOT = "mlartifacts"


@dataclass(frozen=True)
class Relocation:
    """What :func:`relocate_store` changed."""

    old_roots: tuple[str, ...]
    """The ``file:`` URIs of the ``mlartifacts`` folders the store pointed at."""
    new_root: str
    rows: int
    """Rows rewritten, over every table."""


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}


def artifact_roots(database: Path) -> set[str]:
    """The ``file:.../mlartifacts`` roots the store's artifact URIs live under."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = _tables(connection)
        roots: set[str] = set()
        for table, column in ARTIFACT_COLUMNS:
            if table not in tables:
                continue
            for (value,) in connection.execute(
                    f"SELECT DISTINCT {column} FROM {table} WHERE {column} LIKE 'file:%'"):
                head, found, _ = str(value).partition(f"/{_ROOT}/")
                if found:
                    roots.add(f"{head}/{_ROOT}")
        return roots
    finally:
        connection.close()


def relocate_store(database: Path) -> Relocation:
    """Point every artifact URI of the SQLite store ``database`` at ``mlartifacts/`` beside it.

    Idempotent: a store already in place changes nothing (``rows == 0``).

    Raises:
        FileNotFoundError: ``database`` or the ``mlartifacts`` folder beside it is missing
            (copy the whole folder, the database with its artifacts).
    """
    database = Path(database).resolve()
    if not database.is_file():
        raise FileNotFoundError(f"no MLflow SQLite store at {database}")
    folder = database.parent / _ROOT
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: a store moves with its artifacts; copy "
                                f"the whole folder that holds {database.name} and {_ROOT}/")
    new_root = folder.as_uri()
    old_roots = tuple(sorted(root for root in artifact_roots(database) if root != new_root))
    rows = 0
    connection = sqlite3.connect(database)
    try:
        with connection:  # one transaction: all or nothing
            tables = _tables(connection)
            for old in old_roots:
                for table, column in ARTIFACT_COLUMNS:
                    if table in tables:
                        rows += connection.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ?",
                            (new_root, len(old) + 1, len(old) + 1, f"{old}/")).rowcount
    finally:
        connection.close()
    return Relocation(old_roots=old_roots, new_root=new_root, rows=rows)

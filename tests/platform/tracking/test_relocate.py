"""Issue 23: a moved or copied SQLite store keeps working (:mod:`platform.tracking.relocate`).

A copy of the session's finished tiny sweep, relocated, rebuilds its report from its own
files: the copy's database no longer names the original's folder (before relocating,
every artifact URI still pointed at the original, which is how a copy silently read it).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from platform.tracking.relocate import ARTIFACT_COLUMNS, artifact_roots, relocate_store


def _values(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        tables = {n for (n,) in connection.execute("SELECT name FROM sqlite_master")}
        return [str(v) for table, column in ARTIFACT_COLUMNS if table in tables
                for (v,) in connection.execute(f"SELECT {column} FROM {table}") if v]
    finally:
        connection.close()


def test_a_small_store_moves_and_reads_its_artifacts(tmp_path: Path,
                                                     mlflow_sqlite_uri: str) -> None:
    from platform.tracking.store import ensure_experiment

    client = MlflowClient(mlflow_sqlite_uri)
    experiment = ensure_experiment(client, mlflow_sqlite_uri, "moving")
    run = client.create_run(experiment)
    client.log_text(run.info.run_id, "hello", "note.txt")
    old = Path(mlflow_sqlite_uri.removeprefix("sqlite:///")).parent
    new = tmp_path / "elsewhere" / "runs"
    shutil.move(str(old), str(new))
    done = relocate_store(new / "mlflow.db")
    assert done.old_roots == ((old / "mlartifacts").as_uri(),) and done.rows >= 2
    assert artifact_roots(new / "mlflow.db") == {(new / "mlartifacts").as_uri()}
    moved = MlflowClient(f"sqlite:///{new / 'mlflow.db'}")
    local = moved.download_artifacts(run.info.run_id, "note.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"
    assert relocate_store(new / "mlflow.db").rows == 0  # idempotent


def test_relocate_names_a_store_moved_without_its_artifacts(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="mlartifacts"):
        relocate_store(tmp_path / "mlflow.db")


@pytest.mark.slow  # the session's finished tiny sweep (~1 min once), then a report (~20 s)
def test_a_copied_finished_sweep_rebuilds_its_report_from_its_own_files(
        finished_tiny_sweep: Any, tmp_path: Path) -> None:
    from platform.report.rebuild import build_report

    original = Path(finished_tiny_sweep.uri.removeprefix("sqlite:///")).parent
    copy = tmp_path / "laptop" / "runs"
    shutil.copytree(original, copy)
    assert any(str(original) in value for value in _values(copy / "mlflow.db"))  # the bug
    relocate_store(copy / "mlflow.db")
    assert not any(str(original) in value for value in _values(copy / "mlflow.db"))
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny")
    parent = client.search_runs([experiment.experiment_id], "tags.run_kind = 'sweep'")[0]
    written = build_report(uri, parent.info.run_id, tmp_path / "report", trials=False)
    names = {path.name for path in written}
    assert {"table1.md", "table1.csv", "table1.tex", "table1.png"} <= names

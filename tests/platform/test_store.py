"""Issue 23: ``python -m platform.store relocate`` (:mod:`platform.store`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from platform.store import main
from platform.tracking.store import ensure_experiment


def test_relocate_rewrites_a_moved_store_and_says_so(tmp_path: Path, mlflow_sqlite_uri: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    client = MlflowClient(mlflow_sqlite_uri)
    run = client.create_run(ensure_experiment(client, mlflow_sqlite_uri, "moving"))
    client.log_text(run.info.run_id, "hello", "note.txt")
    old = Path(mlflow_sqlite_uri.removeprefix("sqlite:///")).parent
    shutil.move(str(old), str(tmp_path / "moved"))
    assert main(["relocate", f"sqlite:///{tmp_path / 'moved' / 'mlflow.db'}"]) == 0
    assert "artifact URIs moved" in capsys.readouterr().out
    assert main(["relocate", str(tmp_path / "moved" / "mlflow.db")]) == 0
    assert "already points" in capsys.readouterr().out


def test_a_missing_store_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["relocate", str(tmp_path / "mlflow.db")]) == 2
    assert "no MLflow SQLite store" in capsys.readouterr().err

"""Issue 28: a new MLflow store is created once, however many processes open it at once;
a read-only or locked store is one line in pre-flight.

Real parts: a SQLite MLflow store, processes started together at a barrier while other
processes keep the cores busy (:mod:`tests.platform.concurrency_harness`), a second
SQLite connection holding the write lock, an immutable file (``chattr +i``: the test
runs as root here, for whom file modes do not make a file read-only).
"""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

import platform.tracking.store as store
from platform.sweep.__main__ import main
from platform.tracking.store import prepare_store, store_problem
from tests.platform.concurrency_harness import busy_cores

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"
OPENERS = 4


def _open_and_write(uri: str, name: str, ready, results) -> None:  # noqa: ANN001
    ready.wait(timeout=120)
    try:
        prepare_store(uri)
        MlflowClient(tracking_uri=uri).create_experiment(name)
        results.put((name, "ok"))
    except BaseException as err:  # reported to the test, which fails with it
        results.put((name, f"{type(err).__name__}: {str(err)[:300]}"))


@pytest.mark.slow
def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    for attempt in range(2):  # the race is timing-dependent: two rounds, each a new store
        uri = f"sqlite:///{tmp_path / f'store{attempt}' / 'mlflow.db'}"
        ready, results = spawn.Barrier(OPENERS), spawn.Queue()
        openers = [spawn.Process(target=_open_and_write, args=(uri, f"e{i}", ready, results))
                   for i in range(OPENERS)]
        with busy_cores():
            for opener in openers:
                opener.start()
            outcomes = dict(results.get(timeout=240) for _ in openers)
        for opener in openers:
            opener.join(60)
        assert outcomes == {f"e{i}": "ok" for i in range(OPENERS)}
        names = {e.name for e in MlflowClient(tracking_uri=uri).search_experiments()}
        assert names >= {f"e{i}" for i in range(OPENERS)}


def test_a_locked_store_is_found_before_anything_runs(mlflow_sqlite_uri: str) -> None:
    database = Path(mlflow_sqlite_uri[len("sqlite:///"):])
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        problem = store_problem(mlflow_sqlite_uri, busy_s=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert problem is not None and "is locked by another process" in problem
    assert store_problem(mlflow_sqlite_uri, busy_s=0.2) is None  # free again


@pytest.fixture
def immutable_store(mlflow_sqlite_uri: str) -> Iterator[Path]:
    database = Path(mlflow_sqlite_uri[len("sqlite:///"):])
    if shutil.which("chattr") is None:
        pytest.skip("no chattr here")
    made = subprocess.run(["chattr", "+i", str(database)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr!r}")
    yield database
    subprocess.run(["chattr", "-i", str(database)], check=True)


def test_a_read_only_store_exits_2_with_one_line(
        immutable_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(TINY), f"tracking.uri=sqlite:///{immutable_store}",
                 f"data.cache_root={tmp_path / 'cache'}", f"ray.storage_path={tmp_path / 'ray'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"{TINY}: tracking.uri: {immutable_store} is read-only")


def test_a_locked_store_exits_2_with_one_line(
        mlflow_sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_STORE_BUSY_S", 0.2)
    database = Path(mlflow_sqlite_uri[len("sqlite:///"):])
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code = main([str(TINY), f"tracking.uri={mlflow_sqlite_uri}",
                     f"data.cache_root={tmp_path / 'cache'}",
                     f"ray.storage_path={tmp_path / 'ray'}"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"{TINY}: tracking.uri: {database} is locked by another process")

"""Shared fixtures of the platform tests: MLflow stores (a SQLite file, a real server), the
synthetic cohort's cache, one finished tiny sweep and one trained trial that several test
files read.

The test folders mirror ``platform/`` file for file (``sweep/test_plan.py`` tests
``platform/sweep/plan.py``). Tests that cross every stage sit here at the top:
``test_knob_reach.py`` (every setting reaches its consumer) and ``test_cluster.py`` (a sweep
on a two-node cluster, with ``cluster_harness.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import free_port
from tests.platform.concurrency_harness import die_with_parent

# Measured 12-16 s on an idle 2-core machine and 33 s while other test suites ran.
_SERVER_START_TIMEOUT_S = 90.0


@pytest.fixture(scope="session")
def _mlflow_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite database (creating the schema takes ~10 s; copying ms)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_sqlite_uri(tmp_path: Path, _mlflow_sqlite_template: Path) -> str:
    """``sqlite:///<tmp_path>/mlruns/mlflow.db``: a fresh store; artifacts land beside it."""
    folder = tmp_path / "mlruns"
    folder.mkdir()
    shutil.copyfile(_mlflow_sqlite_template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="session")
def skewed_cohort(synthetic_cohort: Callable[..., Path]) -> Path:
    """Nine patients, most with small lesions: a skewed lesion-volume distribution (read by
    the fold-plan and fold-data tests)."""
    return synthetic_cohort(9, (32, 40, 40), 4, small_lesion_fraction=0.7)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + _SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy after {_SERVER_START_TIMEOUT_S} s:\n"
                       f"{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server (it forwards the signal to uvicorn), then SIGKILL what is left."""
    if process.poll() is not None:
        return
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for child in children:
        if child.is_running():
            child.kill()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, proxied artifacts); its URI.

    Job execution (MLflow's GenAI job runner, seven extra processes) is switched off.
    The server runs from its own folder with the venv's ``mlflow`` script, so this
    repository's ``platform`` package does not shadow the standard module there.
    """
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
        "--port", str(port), "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--workers", "1",
    ]
    log = root / "server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def sweep_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.yaml's cohort, generated and preprocessed once for the session."""
    from tests.platform.sweep.harness import warm_cache

    root = tmp_path_factory.getbasetemp() / "sweep-cache"
    warm_cache(root)
    return root


@dataclass(frozen=True)
class FinishedSweep:
    """A tiny sweep run to its end as a user runs it (no ``-v``), and what it left."""

    root: Path
    """Its working folder (Ray state under ``ray/``)."""
    uri: str
    """Its MLflow store."""
    overrides: tuple[str, ...]
    console: str
    """Everything it printed (stdout and stderr)."""
    cache: Path


@pytest.fixture(scope="session")
def finished_tiny_sweep(tmp_path_factory: pytest.TempPathFactory, sweep_cache: Path,
                        _mlflow_sqlite_template: Path) -> FinishedSweep:
    """``sweeps/tiny.yaml`` on folds 0 and 1 (4 trials, two at a time), one contour figure
    per trial, system metrics sampled every 0.2 s; run once per session (~40 s) and
    read by the sweep, report, figure and console tests (issue 13)."""
    from tests.platform.sweep.harness import (
        TINY_SWEEP,
        TWO_AT_A_TIME,
        isolation_overrides,
        run_to_completion,
    )

    root = tmp_path_factory.mktemp("tiny-sweep")
    (root / "mlruns").mkdir()
    shutil.copyfile(_mlflow_sqlite_template, root / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    overrides = ("cv.run_folds=[0,1]", *TWO_AT_A_TIME, "eval.figure_patients=1",
                 *isolation_overrides(root, sweep_cache, uri))
    log = root / "sweep.log"
    run_to_completion([TINY_SWEEP, *overrides], root, log,
                      env={"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.2"})
    return FinishedSweep(root=root, uri=uri, overrides=overrides,
                         console=log.read_text(errors="replace"), cache=sweep_cache)


@pytest.fixture(scope="session")
def trial_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The preprocessing cache of the in-process trials (``trial/harness.py``)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def trained_trial(tmp_path_factory: pytest.TempPathFactory, trial_cache: Path) -> dict[str, Any]:
    """tiny.yaml's final variant trained for 80 iterations on fold 0 (two torch threads,
    restored after), logged to a SQLite store; run once per session (~1 min) and read by
    the trial, portable-model and predict tests. Keys: ``tmp``, ``context``, ``spec``,
    ``outcome``."""
    from tests.conftest import torch_threads
    from tests.platform.trial.harness import LEARNING_OVERRIDES, run_spec, trial_context

    with torch_threads(2):
        tmp = tmp_path_factory.mktemp("trial")
        context, specs = trial_context(tmp, trial_cache, LEARNING_OVERRIDES)
        spec = specs[("final", 0)]
        outcome = run_spec(spec, context, tmp / "work")
    return {"tmp": tmp, "context": context, "spec": spec, "outcome": outcome}

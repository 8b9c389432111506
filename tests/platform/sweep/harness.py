"""Run ``python -m platform.sweep`` as a user would, in a subprocess, and clean up after it.

Shared by the end-to-end tests of the sweep and the search (``sweep/test_run.py``,
``trial/test_search_sample.py``, ``postprocessing/test_external_test.py``,
``test_cluster.py``) and by the session's finished tiny sweep (``tests/platform/conftest.py``).
A sweep runs in its own session (process group) with the environment every Ray process
needs (:func:`platform.tune.env.ray_process_env`); afterwards every process of the local
Ray it started (found by the driver's pid in Ray's session folder name, even once
orphaned) is ended. ``ray stop`` is never used: it would end every Ray on the machine.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import yaml

from platform.tune.env import REPO_ROOT, ray_process_env
from tests.platform.concurrency_harness import die_with_parent

__all__ = [
    "SWEEP_TIMEOUT_S", "TINY_SWEEP", "TWO_AT_A_TIME", "SweepProcess", "child_runs",
    "isolation_overrides", "ray_session_processes", "run_to_completion", "wait_until",
    "warm_cache", "write_sweep",
]

TINY_SWEEP = REPO_ROOT / "sweeps" / "tiny.yaml"
SWEEP_TIMEOUT_S = 300
# Overrides that run two trials at a time on two cores (tiny.yaml runs one at a time).
TWO_AT_A_TIME = ("ray.num_cpus=2", "resources.cpus_per_trial=1",
                 "resources.max_concurrent_trials=2")


def write_sweep(path: Path, changes: Mapping[str, Any]) -> Path:
    """Write ``sweeps/tiny.yaml`` with top-level sections replaced by ``changes`` to ``path``."""
    sweep = copy.deepcopy(yaml.safe_load(TINY_SWEEP.read_text()))
    sweep.update(copy.deepcopy(dict(changes)))
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def warm_cache(cache_root: Path) -> Path:
    """Generate tiny.yaml's synthetic cohort and preprocess it for its variants; the cohort.

    The cohort is keyed by its settings and the cache by content, so sweeps that point
    ``data.cache_root`` here reuse both instead of building them in every trial.
    """
    from platform.config import load_sweep
    from platform.sweep.context import materialize_cohort
    from platform.sweep.prepare import prepare_cache

    sweep = load_sweep(TINY_SWEEP, [f"data.cache_root={cache_root}"])
    cohort = materialize_cohort(sweep.data, progress=False)
    assert prepare_cache(sweep, cohort), "warming the preprocessing cache failed"
    return cohort


def isolation_overrides(tmp_path: Path, cache_root: Path, tracking_uri: str) -> list[str]:
    """Overrides that keep a sweep's cache, Ray state and MLflow store out of ``runs/``."""
    return [f"data.cache_root={cache_root}", f"ray.storage_path={tmp_path / 'ray'}",
            f"tracking.uri={tracking_uri}"]


def ray_session_processes(driver_pid: int) -> list[psutil.Process]:
    """Processes of the local Ray that the driver ``driver_pid`` started, workers included.

    Ray names a local session ``session_<date>_<time>_<micro>_<driver pid>``; the GCS,
    the raylet and the monitors carry that folder on their command lines, and the workers
    are the raylet's children (their titles are ``ray::...``).
    """
    pattern = re.compile(rf"/session_[0-9_-]+_{driver_pid}(/|$)")
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(pattern.search(arg) for arg in cmdline):
            found[process.pid] = process
            try:
                found.update((c.pid, c) for c in process.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
    return list(found.values())


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str,
               process: SweepProcess | None = None, interval: float = 0.25) -> None:
    """Poll ``condition`` until true; fail with the sweep's log if it times out or exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.returncode is not None:
            raise AssertionError(f"the sweep exited ({process.returncode}) before {what}:\n"
                                 f"{process.log_tail()}")
        time.sleep(interval)
    tail = process.log_tail() if process is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}\n{tail}")


class SweepProcess:
    """``python -m platform.sweep ARGS`` in ``cwd``, its output in ``log`` (``env``: variables
    set besides the Ray ones, such as MLflow's user and password).

    Use as a context manager: leaving ends the sweep if it still runs and every process
    of its Ray session.
    """

    def __init__(self, args: Sequence[object], *, cwd: Path, log: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.args = [sys.executable, "-m", "platform.sweep", *map(str, args)]
        self.cwd, self.log = cwd, log
        self.extra_env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SweepProcess:
        env = ray_process_env()
        env.pop("MLFLOW_TRACKING_URI", None)
        env.pop("MLFLOW_LOGGING_LEVEL", None)
        env.update(self.extra_env)
        with self.log.open("ab") as sink:
            # die_with_parent: a killed pytest (no teardown) takes the driver with it.
            self._process = subprocess.Popen(self.args, cwd=self.cwd, env=env, stdout=sink,
                                             stderr=subprocess.STDOUT, start_new_session=True,
                                             preexec_fn=die_with_parent)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The driver's process id."""
        assert self._process is not None, "the sweep was not started"
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or ``None`` while the sweep runs."""
        assert self._process is not None, "the sweep was not started"
        return self._process.poll()

    def wait(self, timeout: float) -> int:
        """Wait for the sweep to exit; fail with its log if it takes longer than ``timeout``."""
        assert self._process is not None, "the sweep was not started"
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise AssertionError(f"the sweep ran past {timeout:.0f} s:\n{self.log_tail()}") from err

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the driver's process group (the driver and its Ray nodes)."""
        os.killpg(self.pid, signal.SIGINT)

    def stop(self) -> None:
        """End the driver (SIGTERM, then SIGKILL) and every process of its Ray session."""
        if self._process is None:
            return
        leftovers = ray_session_processes(self.pid)
        if self._process.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self._process.wait(timeout=30)
        leftovers += ray_session_processes(self.pid)
        for process in leftovers:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(leftovers, timeout=10)

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the sweep's output, for failure messages."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def run_to_completion(args: Sequence[object], cwd: Path, log: Path,
                      env: Mapping[str, str] | None = None) -> None:
    """Run a sweep to its end in ``cwd``; fail with its log unless it exits 0."""
    with SweepProcess([str(a) for a in args], cwd=cwd, log=log, env=env) as sweep:
        code = sweep.wait(SWEEP_TIMEOUT_S)
        assert code == 0, f"the sweep exited {code}:\n{sweep.log_tail()}"


def child_runs(uri: str, experiment: str, kind: str = "evaluation") -> list[Any]:
    """Every evaluation run (``run_kind=evaluation``; ``kind="training"``: every training run) of
    ``experiment`` in the MLflow store at ``uri``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id], filter_string=f"tags.run_kind = '{kind}'")

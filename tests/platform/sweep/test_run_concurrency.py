"""Issue 28: a lab shares one store. Two drivers of one sweep never both run; different
sweeps sharing keys run at once and compute each key once.

Real parts: ``python -m platform.sweep`` in subprocesses with their own local Rays, one
MLflow SQLite store, and the cores kept busy by other processes while they race (races
hide on an idle machine: :mod:`tests.platform.concurrency_harness`). Each test checks
what a lab relies on: every training key trained once, no duplicate finished run, no
ERROR line in either console, Table 1 complete in both, ``platform.report`` works after.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from platform.tune.env import REPO_ROOT, ray_process_env
from tests.platform.concurrency_harness import busy_cores, die_with_parent
from tests.platform.sweep.harness import (
    TINY_SWEEP,
    SweepProcess,
    child_runs,
    wait_until,
)

RUN_S = 600
"""Bound of one sweep here (two at once on busy cores; about 2-3 minutes measured)."""
SHARED = ("cv.run_folds=[0,1]", "train.iterations=10")
RACE_S = 60
"""How long the cores are kept busy from the start of two sweeps on a new store: past its
creation, both plans and the first training claims (later claims race on cores the two
sweeps keep busy themselves; longer loops only slowed the suite)."""


def _overrides(root: Path, cache: Path, uri: str, ray: str) -> list[str]:
    return [*SHARED, f"data.cache_root={cache}", f"ray.storage_path={root / ray}",
            f"tracking.uri={uri}"]


def _assert_clean(console: str, variants: tuple[str, ...] = ("plain", "final")) -> None:
    """No ERROR or traceback; Table 1 lists every variant with both folds."""
    assert "ERROR" not in console and "Traceback" not in console, console[-4000:]
    rows = {line.split()[0]: line.split()[1] for line in console.splitlines()
            if line.split()[:1] and line.split()[0] in variants}
    assert rows == dict.fromkeys(variants, "2/2"), console[-4000:]


def _assert_each_key_once(uri: str, experiment: str) -> None:
    trainings = child_runs(uri, experiment, kind="training")
    per_key = collections.Counter(r.data.tags["training_key"] for r in trainings)
    assert per_key and set(per_key.values()) == {1}, f"trained more than once: {per_key}"
    assert {r.info.status for r in trainings} == {"FINISHED"}
    client = MlflowClient(tracking_uri=uri)
    for run in trainings:  # one training process wrote each curve: one point per step
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
        assert len(steps) == len(set(steps)), "two processes logged one training"
    evaluations = [r for r in child_runs(uri, experiment) if "reused_from" not in r.data.tags]
    per_evaluation = collections.Counter(r.data.tags["evaluation_key"] for r in evaluations)
    assert set(per_evaluation.values()) == {1}, f"evaluated more than once: {per_evaluation}"
    by_parent = collections.Counter(
        (r.data.tags["mlflow.parentRunId"], r.data.tags["variant"], r.data.tags["fold"])
        for r in child_runs(uri, experiment) if r.info.status == "FINISHED")
    assert set(by_parent.values()) == {1}, f"a fold has two finished runs: {by_parent}"


def _report(reference: str, uri: str, out: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "platform.report", reference,
                           "--tracking-uri", uri, "--out", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=die_with_parent)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_a_second_driver_of_a_running_sweep_is_refused_with_one_line(
        tmp_path: Path, sweep_cache: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    args = [TINY_SWEEP, *_overrides(tmp_path, sweep_cache, uri, "ray")]
    first_log = tmp_path / "first.log"
    with SweepProcess(args, cwd=tmp_path, log=first_log) as first:
        with busy_cores():  # while the second starts: the moment of the race
            wait_until(lambda: "plan:" in first_log.read_text(errors="replace"),
                       timeout=RUN_S, what="the first sweep holds its lock and planned",
                       process=first)
            second = subprocess.run([sys.executable, "-m", "platform.sweep",
                                     *map(str, args)], cwd=tmp_path, env=ray_process_env(),
                                    capture_output=True, text=True, timeout=RUN_S,
                                    preexec_fn=die_with_parent)
        assert second.returncode == 2, second.stdout[-3000:] + second.stderr[-3000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert re.fullmatch(
            rf"{re.escape(str(TINY_SWEEP))}: sweep 'tiny' \(id [0-9a-f]+\) is already running "
            rf"on this store \(host \S+, pid {first.pid}, started [0-9-]+ [0-9:]+ UTC\); wait "
            r"for it to end, or stop it and run again to resume it", lines[0]), lines[0]
        assert "plan:" not in second.stdout  # it did nothing
        assert first.wait(RUN_S) == 0, first.log_tail()
    _assert_clean(first_log.read_text(errors="replace"))
    _assert_each_key_once(uri, "tiny")

    again_log = tmp_path / "again.log"  # once the first ended, the same command reuses all
    with SweepProcess(args, cwd=tmp_path, log=again_log) as again:
        assert again.wait(RUN_S) == 0, again.log_tail()
    console = again_log.read_text(errors="replace")
    assert "plan: 0 trainings to run, 4 reused; 0 evaluations to run, 4 reused" in console
    _assert_clean(console)
    _assert_each_key_once(uri, "tiny")
    _report("tiny", uri, tmp_path / "report")


@pytest.mark.slow
def test_two_sweeps_sharing_keys_on_a_new_store_train_each_key_once(
        tmp_path: Path, sweep_cache: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new-store' / 'mlflow.db'}"  # neither sweep finds it made
    other = ["name=tiny_b", "tracking.experiment=tiny"]  # another sweep, the same keys
    logs = {"tiny": tmp_path / "a.log", "tiny_b": tmp_path / "b.log"}
    with busy_cores(seconds=RACE_S), \
            SweepProcess([TINY_SWEEP, *_overrides(tmp_path, sweep_cache, uri, "ray-a")],
                         cwd=tmp_path, log=logs["tiny"]) as first, \
            SweepProcess([TINY_SWEEP, *_overrides(tmp_path, sweep_cache, uri, "ray-b"),
                          *other], cwd=tmp_path, log=logs["tiny_b"]) as second:
        codes = first.wait(RUN_S), second.wait(RUN_S)
    consoles = {name: log.read_text(errors="replace") for name, log in logs.items()}
    assert codes == (0, 0), consoles
    for console in consoles.values():
        _assert_clean(console)
    _assert_each_key_once(uri, "tiny")
    assert len(child_runs(uri, "tiny", kind="training")) == 4  # 2 variants x 2 folds, once
    parents = {r.data.tags["mlflow.parentRunId"] for r in child_runs(uri, "tiny")}
    assert len(parents) == 2
    for parent in parents:
        _report(parent, uri, tmp_path / f"report-{parent}")

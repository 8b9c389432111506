"""Issue 28: a diverging trial fails once, with its reason, in the console and in Table 1.

End to end, as a user runs it: ``python -m platform.sweep sweeps/tiny.yaml
optimizer.lr=1.0e+6`` with retries allowed. On tiny.yaml that learning rate makes
``plain`` diverge (the loss jumps from about 1.4 to about 1e11 at iteration 2: the
divergence guard) and ``final`` reach NaN at iteration 2. Each trial must end at once,
never retried, print its reason once and no traceback, end its MLflow runs FAILED with
the reason (the traceback in the training run's ``failure.txt``), and Table 1 must say
``failed: <reason>``; ``platform.report`` still works on the sweep.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.platform.sweep.harness import (
    SWEEP_TIMEOUT_S,
    TINY_SWEEP,
    SweepProcess,
    child_runs,
    isolation_overrides,
)

REASONS = {"plain": r"diverging loss at iteration 2 \(mean [0-9.e+]+, more than 100 x the mean",
           "final": r"non-finite loss at iteration 2 \(loss nan, last finite loss [0-9.]+\)"}


@pytest.mark.slow
def test_a_diverging_and_a_nan_trial_fail_once_with_their_reason(
        tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str) -> None:
    log = tmp_path / "sweep.log"
    args = [TINY_SWEEP, "optimizer.lr=1.0e+6", "failure.max_failures=2",
            *isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)]
    with SweepProcess(args, cwd=tmp_path, log=log) as sweep:
        code = sweep.wait(SWEEP_TIMEOUT_S)
    console = log.read_text(errors="replace")
    assert code == 1, console[-4000:]
    assert "Traceback" not in console and "ERROR" not in console, console[-4000:]
    for variant, reason in REASONS.items():
        lines = re.findall(rf"^trial {variant}-f0-[0-9a-f]+ failed: {reason}", console, re.M)
        assert len(lines) == 1, (variant, console[-4000:])
    assert "Table 1" in console  # its cells wrap at 80 columns: read whole in the report

    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    trainings = child_runs(mlflow_sqlite_uri, "tiny", kind="training")
    assert len(trainings) == 2  # one per variant: nothing retried into a second run
    for run in trainings:
        variant = run.data.tags["variant"]
        assert run.info.status == "FAILED"
        assert re.match(REASONS[variant], run.data.tags["failure_reason"])
        trace = Path(client.download_artifacts(run.info.run_id, "failure.txt", str(tmp_path)))
        assert "Traceback" in trace.read_text() and "LossError" in trace.read_text()
    evaluations = child_runs(mlflow_sqlite_uri, "tiny")
    assert sorted(r.data.tags["variant"] for r in evaluations) == ["final", "plain"]
    for run in evaluations:
        assert run.info.status == "FAILED"
        assert re.match(REASONS[run.data.tags["variant"]], run.data.tags["failure_reason"])
    assert not list((tmp_path / "ray").rglob("error.txt"))  # Ray Tune saw no error at all

    report = subprocess.run(
        [sys.executable, "-m", "platform.report", "tiny", "--tracking-uri", mlflow_sqlite_uri,
         "--out", str(tmp_path / "report")], cwd=TINY_SWEEP.parents[1], capture_output=True,
        text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    written = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "report").rglob("*.csv"))
    for reason in REASONS.values():
        assert re.search(f"fold 0: failed: {reason}", written)


@pytest.mark.slow
def test_verbose_prints_the_stopped_trials_traceback(
        tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str) -> None:
    """``-v`` gives the full trace of a stopped trial (the default prints its one line,
    above), once: the trial is not retried. (``-v`` shows Ray Tune's own trial tables in
    place of the progress display, so the reason comes in the worker's own line.)"""
    log = tmp_path / "sweep.log"
    args = [TINY_SWEEP, "-v", "optimizer.lr=1.0e+30", "variants=[{name: final}]",
            "failure.max_failures=2", *isolation_overrides(tmp_path, sweep_cache,
                                                           mlflow_sqlite_uri)]
    with SweepProcess(args, cwd=tmp_path, log=log) as sweep:
        code = sweep.wait(SWEEP_TIMEOUT_S)
    console = log.read_text(errors="replace")
    assert code == 1, console[-4000:]
    worker = re.sub(r"^(?:\x1b\[\d+m)?\(trainable pid=\d+\)(?:\x1b\[0m)? ?", "", console,
                    flags=re.M)  # Ray's prefix of a worker's lines
    trace = re.search(r"^Traceback \(most recent call last\):\n(?:.*\n)*?"
                      r"platform\.trial\.stops\.NonFiniteLossError: loss became nan at "
                      r"iteration \d+", worker, re.M)
    assert trace, console[-6000:]
    assert "train_fold" in trace.group(0)  # the trace goes down to the training
    assert len(re.findall(r"^Traceback", worker, re.M)) == 1, console[-6000:]
    lines = re.findall(r"^trial stopped: non-finite loss at iteration \d+", worker, re.M)
    assert len(lines) == 1, console[-4000:]
    assert len(child_runs(mlflow_sqlite_uri, "tiny", kind="training")) == 1  # not retried

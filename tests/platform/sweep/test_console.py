"""platform.sweep.console: the sweep's progress display, logging levels, the UI command
(issue 13)."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from platform.sweep.console import (
    PIPE_LINE_EVERY_S,
    SweepProgress,
    TrialView,
    configure_console,
    mlflow_ui_command,
    sweep_epilogue,
)
from platform.tracking.results import find_sweep_parent
from platform.tracking.sweep_runs import start_sweep_run


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _progress(out: io.StringIO, clock: Clock) -> SweepProgress:
    return SweepProgress("ablation: trials", metric="dice", mode="max",
                         console=Console(file=out, width=200), clock=clock)


def test_counts_times_and_best_dice_as_trials_move() -> None:
    out, clock = io.StringIO(), Clock()
    progress = _progress(out, clock)
    progress.expect(4)
    progress.start()
    # Restored from an interrupted sweep: a trial already finished counts as reused.
    progress.update([TrialView("se-f0", "TERMINATED", {"dice": 0.41, "time_total_s": 9.0}),
                     TrialView("se-f1", "PENDING")])
    assert progress.counts() == {"total": 4, "done": 1, "running": 0, "failed": 0,
                                 "reused": 1, "pending": 3}
    clock.now += 30
    progress.update([TrialView("se-f0", "TERMINATED", {"dice": 0.41}),
                     TrialView("se-f1", "RUNNING"), TrialView("final-f0", "RUNNING")])
    assert out.getvalue() == ""  # nothing ended: no line
    clock.now += 30
    progress.update([TrialView("se-f0", "TERMINATED", {"dice": 0.41}),
                     TrialView("se-f1", "TERMINATED", {"dice": 0.52, "time_total_s": 60.0}),
                     TrialView("final-f0", "RUNNING"), TrialView("final-f1", "PENDING")])
    # One trial ran here for 60 s; 1.5 trials left at 2 at once: ~45 s.
    assert progress.remaining_s() == pytest.approx(45.0)
    assert progress.best() == ("se-f1", 0.52)
    line = ("ablation: trials: 2/4 done, 1 running, 0 failed, 1 reused | elapsed 1:00, "
            "remaining ~0:45 | best dice 0.520 (se-f1)")
    assert out.getvalue() == line + "\n"  # not a terminal: one line when a trial ended
    clock.now += PIPE_LINE_EVERY_S / 2
    progress.update([TrialView("se-f0", "TERMINATED", {"dice": 0.41}),
                     TrialView("se-f1", "TERMINATED", {"dice": 0.52}),
                     TrialView("final-f0", "ERROR", {}), TrialView("final-f1", "RUNNING")])
    assert out.getvalue().count("\n") == 1  # at most one line a minute
    progress.stop()
    assert out.getvalue().splitlines()[-1].startswith(
        "ablation: trials: 2/4 done, 1 running, 1 failed, 1 reused")
    progress.stop()  # again (at exit after an interruption): nothing more
    assert out.getvalue().count("\n") == 2


def test_a_trial_that_reports_reused_counts_as_reused_and_min_mode_picks_lowest() -> None:
    progress = SweepProgress("s", metric="val_avd", mode="min", console=Console(file=io.StringIO()))
    progress.update([TrialView("a", "PENDING"), TrialView("b", "PENDING")])
    progress.update([TrialView("a", "TERMINATED", {"val_avd": 2.0, "reused": 1.0}),
                     TrialView("b", "TERMINATED", {"val_avd": 1.0})])
    assert progress.counts()["reused"] == 1 and progress.best() == ("b", 1.0)


def test_failed_trial_prints_its_whole_error_and_a_retry_one_line() -> None:
    out = io.StringIO()
    progress = _progress(out, Clock())
    error = "Traceback (most recent call last):\n  File x\nNonFiniteLossError: loss became nan"
    progress.trial_failed("se-f0", error)
    progress.trial_retrying("se-f1", "Traceback\nRayActorError: the worker died")
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["trial se-f0 failed:", *error.splitlines()]
    assert lines[4] == ("trial se-f1 crashed, retrying from its last checkpoint: "
                        "RayActorError: the worker died")


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("mlflow", "ray", "platform")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.usefixtures("_restore_logging")
def test_quiet_console_keeps_warnings_and_drops_info(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    assert configure_console(0).quiet
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    logging.getLogger("platform.sweep.run").info("cache built")
    logging.getLogger("mlflow.store").info("Creating initial MLflow database tables...")
    logging.getLogger("platform.sweep.run").warning("case-003 lost 2 % of its lesion")
    err = capsys.readouterr().err
    assert err == "WARNING platform.sweep.run: case-003 lost 2 % of its lesion\n"
    assert not configure_console(1).quiet
    logging.getLogger("platform.sweep.run").info("cache built")
    assert "INFO platform.sweep.run: cache built" in capsys.readouterr().err
    configure_console(2)
    assert logging.getLogger("platform").level == logging.DEBUG


def test_mlflow_ui_command_names_the_store(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mlflow")
    command = mlflow_ui_command(f"sqlite:///{tmp_path}/mlflow.db")
    assert command.endswith(f"ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db "
                            "--host 127.0.0.1")
    program = command.split()[0]
    if script.exists():  # the venv's own script, as make installs it
        assert Path(program).resolve() == script.resolve()
    else:
        assert program == "mlflow"
    assert mlflow_ui_command("http://127.0.0.1:5000") == "open http://127.0.0.1:5000 in a browser"


@pytest.mark.parametrize(("experiment", "reference"), [
    ("tiny", "tiny"), ("lab-stroke", "lab-stroke/0a1b2c3d4e")])
def test_closing_lines_name_the_experiment_the_sweep_is_in(tmp_path: Path, experiment: str,
                                                           reference: str) -> None:
    """Issue 28: with ``tracking.experiment`` set, the closing lines named the sweep as the
    experiment and printed a report command that found no sweep. They now name the
    experiment the parent run is in, and a report reference that finds this very run."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parent = start_sweep_run(uri, experiment, sweep_name="tiny", sweep_id="0a1b2c3d4e",
                             config_yaml="name: tiny\n", source_yaml="name: tiny\n", tags={})
    out = io.StringIO()
    sweep_epilogue(uri, "tiny", parent, Console(file=out, width=200))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"MLflow: parent run {parent} in experiment {experiment!r} ")
    assert lines[-1] == f"Tables and figures into a folder: python -m platform.report {reference}"
    assert find_sweep_parent(uri, reference) == parent

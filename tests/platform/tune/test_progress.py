"""platform.tune.progress: Ray Tune's trial states reach the display; it survives pickling."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from rich.console import Console

from platform.sweep.console import DETAILED, ConsoleMode, SweepProgress, progress_display
from platform.tune.progress import TuneProgress, tune_callbacks


class FakeTrial:
    """What the callback reads of a Ray Tune trial."""

    def __init__(self, name: str, status: str, result: dict[str, Any] | None = None,
                 error: str | None = None) -> None:
        self.name, self.status, self.last_result, self.error = name, status, result or {}, error

    def __str__(self) -> str:
        return self.name

    def get_error(self) -> str | None:
        return self.error


def test_callback_feeds_the_display_and_prints_a_failed_trials_error(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = SweepProgress("tiny: trials", metric="dice", mode="max",
                             console=Console(file=out, width=200))
    callback = TuneProgress(progress)
    callback.setup(total_num_samples=3)
    trials = [FakeTrial("a", "PENDING"), FakeTrial("b", "PENDING")]
    callback.on_step_end(0, trials)
    assert progress.counts()["total"] == 3  # Ray Tune creates the third trial later
    trials = [FakeTrial("a", "TERMINATED", {"dice": 0.3}), FakeTrial(
        "b", "ERROR", error="Traceback (most recent call last):\nValueError: bad patch")]
    callback.on_trial_error(1, trials, trials[1])
    callback.on_experiment_end(trials)
    text = out.getvalue()
    assert "trial b failed:\nTraceback (most recent call last):\nValueError: bad patch\n" in text
    assert text.splitlines()[-1].startswith("tiny: trials: 1/3 done, 0 running, 1 failed")


def test_pickled_callback_drops_its_display() -> None:
    callback = TuneProgress(SweepProgress("x", metric="dice", mode="max"))
    restored = pickle.loads(pickle.dumps(callback))
    assert restored.progress is None
    restored.on_step_end(0, [FakeTrial("a", "RUNNING")])  # a no-op, not an error


def test_callbacks_only_when_quiet() -> None:
    assert tune_callbacks(progress_display(DETAILED, "t", metric="dice", mode="max")) == []
    (callback,) = tune_callbacks(progress_display(ConsoleMode(0), "t", metric="dice",
                                                  mode="max"))
    assert isinstance(callback, TuneProgress) and callback.progress is not None

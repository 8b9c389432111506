"""The Ray Tune callback that feeds the sweep's progress display (:mod:`platform.sweep.console`).

Why a third module that imports Ray (besides :mod:`platform.tune.tuner` and
:mod:`platform.trial.run`): Ray Tune reports trial states only to ``Callback`` subclasses,
and the display is its own concern; keeping the adapter here leaves the Tuner set-up
alone. It only reads ``trial.status``, ``trial.last_result``, ``str(trial)`` and the
trial's error text.

Ray Tune pickles the run config, callbacks included, into the experiment's
``tuner.pkl``; the callback therefore pickles without its display (which holds a
terminal), and :func:`platform.tune.tuner.run_grid` puts the current one back on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

from platform.tune.display import FAILURE_REASON, ProgressDisplay, TrialView

__all__ = ["TuneProgress", "tune_callbacks"]


def tune_callbacks(display: ProgressDisplay | None) -> list[Callback]:
    """The callbacks of one Ray Tune run: ``display`` fed with its trials, or none without
    one (Ray Tune then prints its own trial tables, as with ``-v``)."""
    return [] if display is None else [TuneProgress(display)]


class TuneProgress(Callback):
    """Forward Ray Tune's trial states to a :class:`~platform.tune.display.ProgressDisplay`.

    The display starts with the experiment (``setup``) and draws its final state at
    ``on_experiment_end``; a trial that fails for good has its full error text printed,
    a trial that is retried one line, and a trial whose training stopped for good (a NaN
    or diverging loss: a ``failure_reason`` result, not retried) its reason, one line.
    """

    def __init__(self, progress: ProgressDisplay) -> None:
        self.progress: ProgressDisplay | None = progress

    def __getstate__(self) -> dict[str, Any]:
        return {"progress": None}  # a terminal does not pickle; see the module docstring

    def setup(self, stop: Stopper | None = None, num_samples: int | None = None,
              total_num_samples: int | None = None, **info: Any) -> None:
        if self.progress is not None:
            total = total_num_samples
            if isinstance(total, int) and 0 < total < 1_000_000:  # -1 / maxsize: unbounded
                self.progress.expect(total)
            self.progress.start()

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self.progress is not None:
            self.progress.update([_view(t) for t in trials])

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                       **info: Any) -> None:
        if self.progress is not None:
            self.progress.update([_view(t) for t in trials])
            self.progress.trial_failed(str(trial), _error_text(trial))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        reason = (trial.last_result or {}).get(FAILURE_REASON)
        if self.progress is not None and reason:
            self.progress.update([_view(t) for t in trials])
            self.progress.trial_stopped(str(trial), str(reason))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any,
                         **info: Any) -> None:
        if self.progress is not None:
            self.progress.trial_retrying(str(trial), _error_text(trial))

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        if self.progress is not None:
            self.progress.update([_view(t) for t in trials])
            self.progress.stop()


def _view(trial: Any) -> TrialView:
    result = dict(trial.last_result or {})
    status = str(trial.status)
    if status == "TERMINATED" and result.get(FAILURE_REASON):
        status = "ERROR"  # ended without raising: its training stopped for good
    return TrialView(name=str(trial), status=status, result=result)


def _error_text(trial: Any) -> str:
    """The trial's error: Ray Tune's ``error.txt`` (the worker's traceback)."""
    text = trial.get_error() if hasattr(trial, "get_error") else None
    if not text and getattr(trial, "error_file", None) and Path(trial.error_file).exists():
        text = Path(trial.error_file).read_text(errors="replace")
    return str(text or "(Ray Tune recorded no error text for this trial)")

"""What a sweep prints: one live progress display by default, today's detail with ``-v``.

Why: a sweep used to print every trial's configuration table (Ray Tune), checkpoint
paths, MLflow's download bars and library warnings, about 1,200 lines for the
quickstart, before Table 1. By default (verbosity 0) a sweep now shows

- one live display: trials done / running / failed / reused, elapsed and estimated
  remaining time, the best fold mean of the sweep's metric so far
  (:class:`SweepProgress`, fed by the Ray Tune callback in :mod:`platform.tune.progress`);
- a failed trial's full error text, as it happens;
- warnings and errors of every logger (one line each);
- Table 1, and the command that opens the MLflow UI (:func:`mlflow_ui_command`).

``-v`` (verbosity 1) gives the former detail: INFO logs of this project, MLflow and Ray,
Ray Tune's trial tables and the workers' output; ``-vv`` adds DEBUG logs. In a terminal
the display redraws in place; written to a file or a pipe it prints a status line at
most every :data:`PIPE_LINE_EVERY_S` seconds when a trial ends, and its final state.

This module imports neither Ray nor MLflow.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from platform.tracking.store import mlflow_client, sqlite_file
from platform.tracking.ui import ui_url
from platform.tune.display import TrialView

__all__ = ["DETAILED", "PIPE_LINE_EVERY_S", "ConsoleMode", "SweepProgress",
           "configure_console", "mlflow_ui_command", "progress_display", "sweep_epilogue"]

PIPE_LINE_EVERY_S = 60.0
"""Least seconds between two status lines when the output is not a terminal."""

_QUIET_LOGGERS = ("mlflow", "alembic", "ray", "optuna", "urllib3", "matplotlib")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record, so that a live display that
    redirects it (rich) prints log lines above itself instead of through it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        del value


@dataclass(frozen=True)
class ConsoleMode:
    """How much a sweep prints: 0 the progress display, 1 today's detail, 2 debug."""

    verbosity: int

    @property
    def quiet(self) -> bool:
        """The default: one progress display, libraries at WARNING, no Ray Tune tables."""
        return self.verbosity == 0


DETAILED = ConsoleMode(verbosity=1)
"""Every INFO line and Ray Tune's own tables (``-v``; what a sweep printed before)."""


def configure_console(verbosity: int) -> ConsoleMode:
    """Set up logging for a sweep run with ``verbosity`` (count of ``-v``).

    Quiet (0): every logger at WARNING, including MLflow's and Ray's own handlers
    (MLflow logs its database migrations and Ray its start at INFO). 1: INFO, as the
    sweep printed before. 2: DEBUG for this project.
    """
    level = logging.WARNING if verbosity == 0 else logging.INFO
    if verbosity == 0:
        # MLflow sets its own logger to INFO when it is imported (database migrations,
        # system metrics); it reads this variable then. Ray workers inherit it.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):  # ours, from an earlier call; others stay
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(
        "%(levelname)s %(name)s: %(message)s" if verbosity == 0
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # A hint to checkpoint less often (tiny sweeps checkpoint every iteration): -v shows it.
    logging.getLogger("ray.tune.execution.experiment_state").setLevel(
        logging.ERROR if verbosity == 0 else logging.NOTSET)
    for name in ("platform", "data_pipeline", "models", "__main__"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else level)
    return ConsoleMode(verbosity=verbosity)


def _shown(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it (shorter to read)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def mlflow_ui_command(uri: str) -> str:
    """The command that opens the MLflow UI on the store at ``uri``.

    The ``mlflow`` script beside this Python (``.venv/bin/mlflow`` after ``make``) when
    there is one, else ``mlflow`` from ``PATH``; a server URI is simply opened.
    """
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    script = os.path.join(os.path.dirname(sys.executable), "mlflow")
    program = _shown(script) if os.path.exists(script) else "mlflow"
    database = sqlite_file(uri)
    store = f"sqlite:///{_shown(str(database))}" if database is not None else uri
    return f"{program} ui --backend-store-uri {store} --host 127.0.0.1"


def sweep_epilogue(uri: str, sweep_name: str, parent_run_id: str,
                   console: Console | None = None) -> None:
    """The last lines of a sweep: where its runs are and how to look at them (the UI
    address opens the evaluation runs, best Dice first, not MLflow's GenAI overview).

    The experiment is read from the store, not assumed to be the sweep's name
    (``tracking.experiment`` may name another one). The report command names the sweep
    as ``<experiment>/<sweep id>`` when the experiment is not the sweep's own, since an
    experiment shared by several sweeps would otherwise give the newest of them.
    """
    out = console or Console()
    client = mlflow_client(uri)
    run = client.get_run(parent_run_id)
    experiment = client.get_experiment(run.info.experiment_id).name
    reference = experiment if experiment == sweep_name else \
        f"{experiment}/{run.data.tags['sweep_id']}"
    base = uri if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    for line in (f"MLflow: parent run {parent_run_id} in experiment {experiment!r} (Table 1, "
                 "LaTeX, figures); training and evaluation runs under it. Open the UI with:",
                 f"  {mlflow_ui_command(uri)}",
                 f"  and browse to {ui_url(base, run.info.experiment_id)}",
                 f"Tables and figures into a folder: python -m platform.report {reference}"):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _clock(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class SweepProgress:
    """The sweep's live display: counts, times and the best metric so far.

    A trial already finished when the display starts (restored from an interrupted
    sweep), or whose last result says ``reused`` (work found in the store), counts as
    *reused*; only trials finished during this run feed the remaining-time estimate
    (their mean ``time_total_s`` times the trials left, divided by the trials seen
    running at once).

    Args:
        title: what runs (``quickstart: trials``).
        metric: the result key of the "best so far" (``dice``, or a search metric).
        mode: ``max`` or ``min``.
        console: where to draw (default: stdout).
        clock: seconds (tests pass a fake).
    """

    def __init__(self, title: str, *, metric: str, mode: str, console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.title, self.metric, self.mode = title, metric, mode
        self.console = console or Console()
        self._clock = clock
        self._started = clock()
        self._last_line = -math.inf
        self._trials: dict[str, TrialView] = {}
        self._reused: set[str] = set()
        self._durations: dict[str, float] = {}
        self._concurrency = 1
        self._seen_first = False
        self._expected = 0
        self._stopped = False
        self._live: Live | None = None

    # -- state -----------------------------------------------------------------------
    def update(self, trials: Sequence[TrialView]) -> None:
        """Take the current state of every trial (Ray Tune calls this every step)."""
        ended = False
        for trial in trials:
            if trial.status == "TERMINATED" and trial.name not in self._durations:
                if not self._seen_first or trial.result.get("reused"):
                    self._reused.add(trial.name)
                elif trial.name not in self._reused:
                    self._durations[trial.name] = float(trial.result.get("time_total_s", 0.0))
                    ended = True
            before = self._trials.get(trial.name)
            ended = ended or (trial.status == "ERROR"
                              and (before is None or before.status != "ERROR"))
            self._trials[trial.name] = trial
        self._seen_first = True
        self._concurrency = max(self._concurrency, self.counts()["running"])
        if ended:
            self._maybe_line()
        if self._live is not None:
            self._live.refresh()

    def expect(self, total: int) -> None:
        """The number of trials the run will have (Ray Tune creates them as it goes)."""
        self._expected = total

    def counts(self) -> dict[str, int]:
        """``total, done, running, failed, reused, pending`` (done includes reused)."""
        statuses = [t.status for t in self._trials.values()]
        unseen = max(0, self._expected - len(statuses))
        return {"total": len(statuses) + unseen, "done": statuses.count("TERMINATED"),
                "running": statuses.count("RUNNING"), "failed": statuses.count("ERROR"),
                "reused": len(self._reused),
                "pending": statuses.count("PENDING") + statuses.count("PAUSED") + unseen}

    def best(self) -> tuple[str, float] | None:
        """``(trial name, value)`` of the best finished trial's ``metric``, or None."""
        scored = [(t.name, float(t.result[self.metric])) for t in self._trials.values()
                  if t.status == "TERMINATED" and isinstance(t.result.get(self.metric),
                                                             (int, float))
                  and not math.isnan(float(t.result[self.metric]))]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda item: item[1])

    def remaining_s(self) -> float:
        """Estimated seconds until every trial ends (nan before one finished here)."""
        if not self._durations:
            return math.nan
        counts = self.counts()
        left = counts["pending"] + 0.5 * counts["running"]
        mean = sum(self._durations.values()) / len(self._durations)
        return left * mean / max(1, self._concurrency)

    # -- drawing ---------------------------------------------------------------------
    def line(self) -> str:
        """The status as one plain line (pipes, logs, tests)."""
        c = self.counts()
        best = self.best()
        best_text = f"best {self.metric} {best[1]:.3f} ({best[0]})" if best else \
            f"best {self.metric} -"
        return (f"{self.title}: {c['done']}/{c['total']} done, {c['running']} running, "
                f"{c['failed']} failed, {c['reused']} reused | elapsed "
                f"{_clock(self._clock() - self._started)}, remaining ~"
                f"{_clock(self.remaining_s())} | {best_text}")

    def render(self) -> Group:
        """The display: a bar over the trials, then the status line."""
        c = self.counts()
        grid = Table.grid(padding=(0, 1))
        grid.add_row(Text(self.title, style="bold"),
                     ProgressBar(total=max(1, c["total"]), completed=c["done"] + c["failed"],
                                 width=30),
                     Text(f"{c['done'] + c['failed']}/{c['total']}"))
        return Group(grid, Text(self.line().split(": ", 1)[1], style="dim"))

    def start(self) -> None:
        """Begin drawing (in a terminal the display redraws itself four times a second).

        An interrupted sweep may never reach :meth:`stop`; it is then called at exit, so
        the terminal gets its cursor back.
        """
        self._started = self._clock()
        self._stopped = False
        if self.console.is_terminal and self._live is None:
            self._live = Live(console=self.console, get_renderable=self.render,
                              refresh_per_second=4, transient=False)
            self._live.start()
            atexit.register(self.stop)

    def stop(self) -> None:
        """Draw the final state and stop (once; later calls do nothing)."""
        if self._stopped:
            return
        self._stopped = True
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
            atexit.unregister(self.stop)
        else:
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def trial_failed(self, name: str, error: str) -> None:
        """Print a failed trial's full error text (above the live display)."""
        self.console.print(f"trial {name} failed:", style="bold red", highlight=False)
        self.console.print(error.rstrip(), highlight=False, markup=False, soft_wrap=True)

    def trial_stopped(self, name: str, reason: str) -> None:
        """One line: a trial's training stopped for good (not retried) and why."""
        self.console.print(f"trial {name} failed: {reason}", style="bold red",
                           highlight=False, markup=False, soft_wrap=True)

    def trial_retrying(self, name: str, error: str) -> None:
        """One line: a trial crashed and is retried from its last checkpoint."""
        last = (error.strip().splitlines() or ["(no error text)"])[-1]
        self.console.print(f"trial {name} crashed, retrying from its last checkpoint: {last}",
                           style="yellow", highlight=False, markup=False, soft_wrap=True)

    def _maybe_line(self) -> None:
        if self._live is not None:
            return
        now = self._clock()
        if now - self._last_line >= PIPE_LINE_EVERY_S:
            self._last_line = now
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)


def progress_display(console: ConsoleMode, title: str, *, metric: str,
                     mode: str) -> SweepProgress | None:
    """The live display of one Ray Tune run when the console is quiet, else None (Ray Tune
    then prints its own trial tables, as with ``-v``)."""
    return SweepProgress(title, metric=metric, mode=mode) if console.quiet else None

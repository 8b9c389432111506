"""Figures of how training and searching went: learning curves, search history, importance.

A trial's learning curves come from its MLflow metric history (``train_loss`` and ``lr``
per logged iteration, a resumed trial included); a search's history and parameter
importances from its samples' runs (the objective each reported, the knobs each drew).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from platform.report.figures.canvas import (
    FONT_PT,
    PAGE_WIDTH_IN,
    FigureData,
    new_figure,
    save_figure,
)
from platform.tracking import TrialRun
from platform.tracking.results import metric_history

__all__ = ["SearchSample", "learning_curves_figure", "log_learning_curves",
           "parameter_importance_figure", "run_learning_curves", "search_history_figure"]

_MAX_LR_TICKS = 8


def learning_curves_figure(loss: Sequence[tuple[int, float]], lr: Sequence[tuple[int, float]],
                           *, title: str) -> tuple[Figure, FigureData]:
    """Training loss and learning rate against the iteration, side by side.

    Args:
        loss: ``(iteration, loss)`` pairs as logged (``train_loss``).
        lr: ``(iteration, learning rate)`` pairs as logged (``lr``); drawn on a log axis.
        title: the run's name (``<variant>/fold<k>``), never a patient reference.

    Returns:
        The figure and ``{"train_loss": [[iteration, value], ...], "lr": [...]}``.
    """
    figure = new_figure(PAGE_WIDTH_IN, 2.6)
    loss_axes, lr_axes = figure.subplots(1, 2)
    if loss:
        loss_axes.plot(*zip(*loss, strict=True), color="tab:blue", linewidth=1.0)
    if lr:
        _draw_lr(lr_axes, lr)
    loss_axes.set(xlabel="iteration", ylabel="training loss")
    lr_axes.set(xlabel="iteration", ylabel="learning rate")
    for axes in (loss_axes, lr_axes):
        axes.grid(alpha=0.3)
        axes.tick_params(labelsize=FONT_PT)
        axes.xaxis.label.set_size(FONT_PT + 1)
        axes.yaxis.label.set_size(FONT_PT + 1)
    figure.suptitle(title, fontsize=FONT_PT + 2)
    return figure, {"train_loss": [[int(s), float(v)] for s, v in loss],
                    "lr": [[int(s), float(v)] for s, v in lr]}


def _draw_lr(axes: Axes, lr: Sequence[tuple[int, float]]) -> None:
    """The learning rate as the step function a schedule is: each logged value held until
    the next (``steps-post``), on a log axis whose ticks are the values taken when there
    are few (a step schedule: 1e-4, 5e-5, ..., its floor included), so the floor is
    labelled instead of sitting below the lowest decade tick."""
    axes.plot(*zip(*lr, strict=True), color="tab:orange", linewidth=1.0,
              drawstyle="steps-post")
    values = sorted({v for _, v in lr})
    if values[0] <= 0:
        return
    axes.set_yscale("log")
    axes.set_ylim(values[0] / 1.5, values[-1] * 1.5)
    if len(values) <= _MAX_LR_TICKS:
        axes.yaxis.set_major_locator(FixedLocator(values))
        axes.yaxis.set_minor_locator(NullLocator())
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


@dataclass(frozen=True)
class SearchSample:
    """One finished search sample: its study (outer fold), its order and its objective."""

    study: str
    """The study it belongs to (``outer fold 0``, or ``all folds`` for scheme ``once``)."""
    order: int
    """Its position among the study's samples (by start time, from 1)."""
    value: float
    """The objective it reported (the search metric, mean over its folds)."""
    params: Mapping[str, object]
    """The searched knobs it drew (``{"optimizer.lr": 0.003, ...}``)."""


def _running_best(values: Sequence[float], mode: str) -> list[float]:
    best: list[float] = []
    pick = max if mode == "max" else min
    for value in values:
        finite = [v for v in (*best[-1:], value) if not math.isnan(v)]
        best.append(pick(finite) if finite else math.nan)
    return best


def search_history_figure(samples: Sequence[SearchSample], *, metric: str,
                          mode: str) -> tuple[Figure, FigureData]:
    """Each sample's objective in the order sampled, and the best so far, per study.

    Returns:
        The figure and ``{"metric", "mode", "studies": {study: {"order", "value",
        "best_so_far"}}}``.
    """
    studies: dict[str, list[SearchSample]] = {}
    for sample in sorted(samples, key=lambda s: (s.study, s.order)):
        studies.setdefault(sample.study, []).append(sample)
    figure = new_figure(max(4.5, 3.6 * len(studies)), 3.4)
    grid = figure.subplots(1, max(1, len(studies)), squeeze=False)[0]
    data: dict[str, dict[str, list[float]]] = {}
    for axes, (study, members) in zip(grid, studies.items(), strict=False):
        order = [s.order for s in members]
        values = [s.value for s in members]
        best = _running_best(values, mode)
        axes.scatter(order, values, s=18, color="tab:blue", label="sample")
        axes.step(order, best, where="post", color="tab:red", label=f"best so far ({mode})")
        axes.set(xlabel="sample", ylabel=metric, title=study)
        axes.grid(alpha=0.3)
        data[study] = {"order": [float(o) for o in order], "value": values, "best_so_far": best}
    grid[0].legend(fontsize=8)
    figure.suptitle(f"Optimisation history ({metric}, {mode})", fontsize=10)
    return figure, {"metric": metric, "mode": mode, "studies": data}


def parameter_importance_figure(importances: Mapping[str, Mapping[str, float]], *,
                                metric: str, method: str) -> tuple[Figure, FigureData]:
    """Horizontal bars of each searched knob's importance for ``metric``, per study.

    Args:
        importances: ``{study: {knob: importance}}`` (importances of a study sum to 1).
        method: how they were computed (named in the title), e.g. Optuna's PED-ANOVA.

    Returns:
        The figure and ``{"metric", "method", "studies": importances}``.
    """
    figure = new_figure(max(4.5, 3.6 * len(importances)), 0.5 * max(
        (len(v) for v in importances.values()), default=1) + 2.0)
    grid = figure.subplots(1, max(1, len(importances)), squeeze=False)[0]
    for axes, (study, values) in zip(grid, importances.items(), strict=False):
        names = sorted(values, key=lambda k: values[k])
        axes.barh(np.arange(len(names)), [values[k] for k in names], color="tab:green")
        axes.set_yticks(np.arange(len(names)), names, fontsize=8)
        axes.set(xlabel="importance", xlim=(0.0, 1.0), title=study)
        axes.grid(axis="x", alpha=0.3)
    figure.suptitle(f"Parameter importance for {metric} ({method})", fontsize=10)
    return figure, {"metric": metric, "method": method,
                    "studies": {s: dict(v) for s, v in importances.items()}}


def run_learning_curves(uri: str, run_id: str, title: str) -> tuple[Figure, FigureData]:
    """A training run's learning curves (``train_loss``, ``lr``) from its MLflow metric
    history, a resumed run's whole history included; ``title`` is the run's name."""
    return learning_curves_figure(metric_history(uri, run_id, "train_loss"),
                                  metric_history(uri, run_id, "lr"), title=title)


def log_learning_curves(run: TrialRun) -> None:
    """Log ``run``'s learning curves as ``figures/learning_curves.png/.svg/.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        save_figure(*run_learning_curves(run.uri, run.run_id, run.run_name), Path(tmp),
                    "learning_curves")
        run.log_files(Path(tmp), "figures")

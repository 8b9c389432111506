"""Figures of the sweep's tables: Table 1 as bars, per-patient Dice, the Table 2 trade-off.

Dobshik et al. (2023, arXiv:2301.06793) report Table 1 (the ablation) and Table 2
(inference overlap against time) as numbers; these figures draw the same numbers, with
the paper's values beside ours where the sweep file gives them, so that a reader sees
at once which step of the ablation moved which metric, and by how much compared with
the fold-to-fold spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from platform.config.sweep import parse_reference
from platform.evaluation.metrics import DICE, METRIC_LABELS
from platform.report.figures.canvas import (
    COLUMN_WIDTH_IN,
    FONT_PT,
    PAGE_WIDTH_IN,
    FigureData,
    new_figure,
)
from platform.report.table1 import Table1

__all__ = ["OURS_COLOUR", "PAPER_COLOUR", "OverlapPoint", "overlap_figure", "per_patient_figure",
           "table1_figure"]

OURS_COLOUR = "tab:blue"
PAPER_COLOUR = "tab:gray"


def _paper(text: str | None) -> tuple[float | None, float | None]:
    return (None, None) if not text else parse_reference(text)


def table1_figure(table: Table1) -> tuple[Figure, FigureData]:
    """Table 1 as grouped bars: one panel per metric, one group per variant, sd error bars.

    Each group holds our mean +- sd over folds and, where the sweep file gives it, the
    paper's value (grey, hatched). A variant without finished folds has no bar.

    Returns:
        The figure and ``{"metrics", "labels", "variants", "ours": {metric: {"mean",
        "sd", "n_folds"}}, "paper": {metric: {"mean", "sd"}}}`` (lists in variant order;
        ``paper`` empty when no reference was given).
    """
    variants = [row.variant for row in table.rows]
    ours: dict[str, dict[str, list[float]]] = {
        m: {"mean": [row.summaries[m].mean for row in table.rows],
            "sd": [row.summaries[m].sd for row in table.rows],
            "n_folds": [row.summaries[m].n for row in table.rows]} for m in table.metrics}
    paper = {}
    if table.has_reference:
        for metric in table.metrics:
            values = [_paper(row.reference.get(metric)) for row in table.rows]
            paper[metric] = {"mean": [v[0] for v in values], "sd": [v[1] for v in values]}
    labels = {m: METRIC_LABELS.get(m, m) for m in table.metrics}
    figure, panels = _panel_grid(len(table.metrics), columns=3, panel_height_in=2.4)
    x = np.arange(len(variants))
    bar = 0.4 if paper else 0.6
    for axes, metric in zip(panels, table.metrics, strict=True):
        offset = -bar / 2 if paper else 0.0
        _bars(axes, x + offset, ours[metric]["mean"], ours[metric]["sd"], bar, OURS_COLOUR,
              "ours")
        if paper:
            _bars(axes, x + bar / 2, paper[metric]["mean"], paper[metric]["sd"], bar,
                  PAPER_COLOUR, "paper", hatch="//")
        axes.set_title(labels[metric], fontsize=FONT_PT + 1)
        axes.set_xticks(x, variants, rotation=40, ha="right", fontsize=FONT_PT)
        axes.tick_params(axis="y", labelsize=FONT_PT)
        axes.set_ylim(0.0, 1.05)
        axes.grid(axis="y", alpha=0.3)
    if paper:
        panels[0].legend(fontsize=FONT_PT, loc="upper left")
    figure.suptitle(f"Table 1: mean ± sd over {len(table.folds)} folds", fontsize=FONT_PT + 2)
    return figure, {"metrics": list(table.metrics), "labels": labels, "variants": variants,
                    "ours": ours, "paper": paper}


def _panel_grid(count: int, *, columns: int, panel_height_in: float
                ) -> tuple[Figure, list[Axes]]:
    """``count`` panels on a page-wide figure, ``columns`` a row, the last row centred
    (5 metrics: 3 + 2, no empty sixth panel)."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = new_figure(PAGE_WIDTH_IN, panel_height_in * rows)
    grid = figure.add_gridspec(rows, 2 * columns)
    panels = []
    for index in range(count):
        row, column = divmod(index, columns)
        in_row = min(columns, count - row * columns)
        start = 2 * column + (columns - in_row)  # centre a short last row
        panels.append(figure.add_subplot(grid[row, start:start + 2]))
    return figure, panels


def _bars(axes: Axes, x: np.ndarray, means: Sequence[float | None],
          sds: Sequence[float | None], width: float, colour: str, label: str,
          hatch: str | None = None) -> None:
    heights = np.array([np.nan if v is None else v for v in means], dtype=float)
    errors = np.array([0.0 if v is None or math.isnan(v) else v for v in sds], dtype=float)
    axes.bar(x, heights, width, yerr=errors, capsize=3, color=colour, label=label, hatch=hatch,
             edgecolor="black", linewidth=0.5)


def per_patient_figure(values: Mapping[str, Mapping[str, float]], variants: Sequence[str],
                       folds: Mapping[str, int], *, metric: str = DICE) -> tuple[Figure,
                                                                                    FigureData]:
    """Each patient's ``metric`` per variant, joined by a line across variants.

    Args:
        values: ``{case key: {variant: value}}`` (a variant a patient lacks is skipped;
            the line breaks there).
        variants: the x order (Table 1's row order).
        folds: ``{case key: test fold}``, kept in the data for checks.
        metric: the per-patient metric drawn (its name labels the y axis).

    Returns:
        The figure and ``{"metric", "variants", "patients": {case: [value or None per
        variant]}, "fold": {case: fold}, "mean": [mean over patients per variant]}``.
    """
    cases = sorted(values)
    matrix = np.array([[values[c].get(v, np.nan) for v in variants] for c in cases], dtype=float)
    if matrix.size:
        counts = np.sum(~np.isnan(matrix), axis=0)
        sums = np.nansum(matrix, axis=0)
        means = [float(s / n) if n else math.nan for s, n in zip(sums, counts, strict=True)]
    else:
        means = [math.nan] * len(variants)
    figure = new_figure(COLUMN_WIDTH_IN if len(variants) <= 4 else PAGE_WIDTH_IN, 3.0)
    axes = figure.subplots()
    x = np.arange(len(variants))
    for row in matrix:
        axes.plot(x, row, color="0.6", linewidth=0.8, alpha=0.7, zorder=1)
        axes.scatter(x, row, s=14, color=OURS_COLOUR, zorder=2)
    axes.scatter(x, means, marker="_", s=500, color="black", zorder=3, label="mean over patients")
    axes.set_xticks(x, list(variants), rotation=40, ha="right", fontsize=FONT_PT)
    axes.tick_params(axis="y", labelsize=FONT_PT)
    axes.set_ylabel(f"{metric} per patient", fontsize=FONT_PT + 1)
    axes.set_ylim(0.0, 1.05)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=FONT_PT, loc="upper left")
    axes.set_title(f"{metric} per patient ({len(cases)} patients)\n"
                   "lines join each patient across variants", fontsize=FONT_PT + 1)
    patients = {c: [None if math.isnan(v) else float(v) for v in row]
                for c, row in zip(cases, matrix, strict=True)}
    return figure, {"metric": metric, "variants": list(variants), "patients": patients,
                    "fold": {c: int(folds[c]) for c in cases if c in folds}, "mean": means}


@dataclass(frozen=True)
class OverlapPoint:
    """One inference overlap of Table 2: means +- sd over folds, and the paper's values."""

    overlap: float
    """Fraction of a patch shared with its neighbour (0.25 for 25 %)."""
    seconds_mean: float
    seconds_sd: float
    dice_mean: float
    dice_sd: float
    n_folds: int
    paper_seconds: float | None = None
    paper_dice: float | None = None
    paper_dice_sd: float | None = None


def overlap_figure(points: Sequence[OverlapPoint], *,
                   device: str | None = None) -> tuple[Figure, FigureData]:
    """Table 2 drawn: seconds per patient and Dice against overlap, and Dice against time.

    Three panels: seconds per patient vs overlap, Dice (mean +- sd over folds) vs
    overlap, and Dice vs seconds per patient with each point labelled by its overlap.
    The paper's values (one T4 GPU) are hollow grey markers where given.

    Returns:
        The figure and ``{"device", "points": [OverlapPoint fields]}`` by overlap.
    """
    ordered = sorted(points, key=lambda p: p.overlap)
    percent = np.array([100 * p.overlap for p in ordered])
    seconds = np.array([p.seconds_mean for p in ordered])
    dice = np.array([p.dice_mean for p in ordered])
    figure = new_figure(PAGE_WIDTH_IN, 2.6)
    time_axes, dice_axes, trade_axes = figure.subplots(1, 3)
    time_axes.errorbar(percent, seconds, yerr=[p.seconds_sd for p in ordered], marker="o",
                       color=OURS_COLOUR, capsize=3, label="ours")
    dice_axes.errorbar(percent, dice, yerr=[p.dice_sd for p in ordered], marker="o",
                       color=OURS_COLOUR, capsize=3, label="ours")
    trade_axes.plot(seconds, dice, marker="o", color=OURS_COLOUR, label="ours")
    for p, s, d in zip(ordered, seconds, dice, strict=True):
        trade_axes.annotate(f"{100 * p.overlap:g} %", (s, d), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
    paper = [(100 * p.overlap, p.paper_seconds, p.paper_dice, p.paper_dice_sd) for p in ordered]
    hollow = {"marker": "s", "markerfacecolor": "none", "color": PAPER_COLOUR, "linestyle": ":"}
    if any(s is not None for _, s, _, _ in paper):
        time_axes.plot([o for o, s, _, _ in paper if s is not None],
                       [s for _, s, _, _ in paper if s is not None], label="paper (T4)", **hollow)
    if any(d is not None for _, _, d, _ in paper):
        dice_axes.errorbar([o for o, _, d, _ in paper if d is not None],
                           [d for _, _, d, _ in paper if d is not None],
                           yerr=[sd or 0.0 for _, _, d, sd in paper if d is not None],
                           capsize=3, label="paper (T4)", **hollow)
    where = f" ({device})" if device else ""
    time_axes.set(xlabel="overlap (%)", ylabel=f"seconds per patient{where}")
    dice_axes.set(xlabel="overlap (%)", ylabel="Dice", ylim=(0.0, 1.05))
    trade_axes.set(xlabel=f"seconds per patient{where}", ylabel="Dice", ylim=(0.0, 1.05))
    for axes in (time_axes, dice_axes, trade_axes):
        axes.grid(alpha=0.3)
    time_axes.legend(fontsize=8)
    figure.suptitle("Table 2: inference overlap, time and Dice (mean ± sd over folds)",
                    fontsize=FONT_PT + 2)
    return figure, {"device": device, "points": [p.__dict__ for p in ordered]}

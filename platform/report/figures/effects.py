"""The forest plot of Table 1's paired effects: which part earns its keep, with its interval.

One panel per metric, one line per compared row: the mean paired per-patient difference
(variant - reference) as a dot and its bootstrap interval as a bar, against a line at
zero. A filled dot is significant after the table's correction, a hollow one is not; a
row with too few paired patients has a cross and no bar. The JSON holds every number
drawn (:mod:`platform.report.effects` defines them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from platform.evaluation.metrics import METRIC_LABELS, TABLE1_METRICS
from platform.report.effects import PairedEffect
from platform.report.evidence import Evidence
from platform.report.figures.canvas import FigureData, new_figure

__all__ = ["forest_figure"]

_COLOUR = "tab:blue"


def forest_figure(evidence: Evidence,
                  metrics: Sequence[str] = TABLE1_METRICS) -> tuple[Figure, FigureData]:
    """Paired effects with their intervals, one panel per metric.

    Returns:
        The figure and ``{"confidence", "interval", "correction", "alpha", "metrics":
        {metric: [{"variant", "versus", "n_pairs", "mean", "low", "high", "p",
        "p_adjusted", "significant", "note"}]}}`` in table row order.
    """
    s = evidence.settings
    data = {metric: [_point(e, s.alpha) for e in evidence.effects if e.metric == metric]
            for metric in metrics}
    rows = max((len(points) for points in data.values()), default=0)
    figure = new_figure(3.2 * len(metrics), 0.9 + 0.42 * max(rows, 1))
    panels = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for axes, metric in zip(panels, metrics, strict=True):
        _panel(axes, data[metric], METRIC_LABELS.get(metric, metric))
    if rows:
        panels[0].set_yticks(range(rows), [f"{p['variant']} vs {p['versus']}"
                                           for p in next(iter(data.values()))], fontsize=8)
    panels[0].invert_yaxis()
    figure.suptitle(f"Paired effects (variant - reference) with {100 * s.confidence:g} % "
                    f"{s.interval} bootstrap intervals; filled: significant after "
                    f"{evidence.correction} (alpha {s.alpha:g})", fontsize=9)
    return figure, {"confidence": s.confidence, "interval": s.interval,
                    "correction": s.correction, "alpha": s.alpha, "metrics": data}


def _point(effect: PairedEffect, alpha: float) -> dict[str, object]:
    return {"variant": effect.variant, "versus": effect.versus, "n_pairs": effect.n_pairs,
            "mean": effect.mean, "low": effect.low, "high": effect.high,
            "p": effect.p_value, "p_adjusted": effect.p_adjusted,
            "significant": effect.significant(alpha), "note": effect.note}


def _panel(axes: Axes, points: Sequence[dict[str, object]], label: str) -> None:
    axes.axvline(0.0, color="0.4", linewidth=0.8, linestyle="--", zorder=1)
    for y, point in enumerate(points):
        mean = float(point["mean"])  # type: ignore[arg-type]  # JSON numbers of the drawn points
        if math.isnan(mean):
            continue
        if point["low"] is None:
            axes.scatter([mean], [y], marker="x", color="0.3", zorder=3)
            continue
        low, high = float(point["low"]), float(point["high"])  # type: ignore[arg-type]  # JSON numbers of the drawn points
        axes.plot([low, high], [y, y], color=_COLOUR, linewidth=1.6, zorder=2)
        axes.scatter([mean], [y], s=36, zorder=3, edgecolors=_COLOUR,
                     color=_COLOUR if point["significant"] else "white")
    axes.set_title(label, fontsize=9)
    axes.set_xlabel("difference", fontsize=8)
    axes.grid(axis="x", alpha=0.3)

"""The lesion-size strata figure: each variant's metrics per stratum of the lesion volume.

One panel per metric (Dice, and lesion F1 and detection rate where logged), strata on
the x axis from small to large lesions, one series per variant: mean +- sd over the
stratum's patients (:mod:`platform.report.strata`). The JSON holds the numbers drawn.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from platform.report.figures.canvas import FigureData, new_figure
from platform.report.strata import LesionStrata

__all__ = ["strata_figure"]


def strata_figure(strata: LesionStrata) -> tuple[Figure, FigureData]:
    """The strata table drawn.

    Returns:
        The figure and ``{"unit", "strata": [{"label", "low", "high", "n_patients"}],
        "metrics", "values": {metric: {variant: {"mean": [...], "sd": [...], "n": [...]}}}}``
        (lists in stratum order).
    """
    labels = [s.label for s in strata.strata]
    variants = list(strata.cells)
    values: dict[str, dict[str, dict[str, list[float]]]] = {
        m: {v: {"mean": [strata.cells[v][s][m].mean for s in labels],
                "sd": [strata.cells[v][s][m].sd for s in labels],
                "n": [float(strata.cells[v][s][m].n) for s in labels]} for v in variants}
        for m in strata.metrics}
    figure = new_figure(max(4.0, 3.6 * len(strata.metrics)), 3.8)
    panels = figure.subplots(1, max(1, len(strata.metrics)), squeeze=False)[0]
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(variants))
    for axes, metric in zip(panels, strata.metrics, strict=False):
        for index, variant in enumerate(variants):
            series = values[metric][variant]
            sd = [0.0 if math.isnan(s) else s for s in series["sd"]]  # one patient: no bar
            axes.errorbar(x - 0.4 + width * (index + 0.5), series["mean"], yerr=sd,
                          marker="o", markersize=4, linestyle="none", capsize=2,
                          label=variant)
        axes.set_xticks(x, labels, rotation=20, ha="right", fontsize=7)
        axes.set_ylim(0.0, 1.05)
        axes.set_title(metric, fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    panels[0].legend(fontsize=7, loc="best")
    figure.suptitle(f"By lesion size (reference volume, {strata.unit}): mean +- sd over "
                    "patients", fontsize=9)
    return figure, {"unit": strata.unit, "metrics": list(strata.metrics),
                    "strata": [{"label": s.label, "low": s.low, "high": s.high,
                                "n_patients": len(s.cases)} for s in strata.strata],
                    "values": values}

"""The ranking-stability blob plot: each variant's share of bootstrap resamples in each rank.

challengeR's "blob plot" (Wiesenfarth et al., Sci. Rep. 2021): one column per variant,
one row per rank, a disc whose area is the share of resamples in which the variant took
that rank; a cross marks its rank on all the patients. The JSON holds the shares drawn
(:mod:`platform.report.ranking`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from platform.report.figures.canvas import FigureData, new_figure
from platform.report.ranking import RankStability

__all__ = ["ranking_figure"]


def ranking_figure(ranking: RankStability) -> tuple[Figure, FigureData]:
    """The blob plot of ``ranking`` (an empty panel saying why when it was not computed).

    Returns:
        The figure and ``{"metric", "variants", "n_patients", "resamples", "shares":
        {variant: [share per rank]}, "observed": {variant: rank}, "note"}``.
    """
    k = len(ranking.variants)
    figure = new_figure(max(4.0, 0.8 * k + 1.6), max(3.0, 0.45 * k + 1.4))
    axes = figure.subplots()
    x = np.arange(k)
    if ranking.shares:
        for index in range(k):
            shares = np.array(ranking.shares[index])
            ranks = np.arange(1, k + 1)
            shown = shares > 0
            axes.scatter(np.full(shown.sum(), index), ranks[shown], s=900 * shares[shown],
                         color="tab:blue", alpha=0.7, zorder=2)
            axes.scatter([index], [ranking.observed[index]], marker="x", color="black",
                         zorder=3)
        axes.set_yticks(range(1, k + 1))
        axes.set_ylim(k + 0.6, 0.4)
        title = (f"Rank by mean {ranking.metric} over {ranking.resamples} bootstrap samples "
                 f"of {ranking.n_patients} patients\n(disc area: share of samples; x: rank on "
                 "all patients)")
    else:
        axes.text(0.5, 0.5, f"not computed: {ranking.note}", ha="center", va="center",
                  transform=axes.transAxes, fontsize=8, wrap=True)
        title = f"Ranking stability by {ranking.metric}"
    axes.set_xticks(x, list(ranking.variants), rotation=40, ha="right", fontsize=8)
    axes.set_ylabel("rank (1 = best)")
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=9)
    return figure, {
        "metric": ranking.metric, "variants": list(ranking.variants),
        "n_patients": ranking.n_patients, "resamples": ranking.resamples,
        "shares": {v: list(s) for v, s in zip(ranking.variants, ranking.shares, strict=False)},
        "observed": dict(zip(ranking.variants, ranking.observed, strict=False)),
        "note": ranking.note}

"""Figures for papers and the MLflow UI, drawn headless from numbers read back from MLflow.

Each function takes plain numbers (a Table 1, per-patient rows, metric histories) and
returns a matplotlib ``Figure`` together with the data it drew, as plain JSON-ready
values; :func:`~platform.report.figures.canvas.save_figure` writes ``<name>.png``,
``<name>.svg`` and ``<name>.json`` (the data) side by side, so a test, a reviewer or a
script can check every drawn number against the table it came from. Figures are drawn
on an Agg canvas without ``pyplot``: no global backend state, no display needed.

- :mod:`.tables`: Table 1 as grouped bars (one panel per metric, sd error bars, the
  paper's values beside ours), per-patient Dice per variant with each patient's points
  joined across variants, and the Table 2 figure (overlap, seconds per patient, Dice);
- :mod:`.curves`: a trial's learning curves (loss, learning rate), a search's
  optimisation history and its parameter importances;
- :mod:`.effects`: the forest plot of each row's paired effects with their intervals;
- :mod:`.ranking`: the ranking-stability blob plot (challengeR's);
- :mod:`.strata`: each variant's metrics by lesion-size stratum.

The per-trial Fig. 4-style contour overlay lives in :mod:`platform.report.figures.contours`
(drawn inside the trial, where the volumes are).
"""

from __future__ import annotations

from platform.report.figures.canvas import FigureData, new_figure, save_figure

__all__ = ["FigureData", "new_figure", "save_figure"]

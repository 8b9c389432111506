"""platform.report.figures.tables: every bar and point drawn is the table's number (issue 13)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer

from platform.report.figures import save_figure
from platform.report.figures.tables import per_patient_figure, table1_figure
from platform.report.table1 import build_table1
from tests.platform.report.test_rebuild import assert_valid_figure_files
from tests.platform.report.test_table1 import FOLDS, METRICS, REFERENCE, VARIANTS, _results


def _heights(container: BarContainer) -> list[float]:
    return [patch.get_height() for patch in container]


def _bars(axes: Axes) -> list[BarContainer]:
    return [c for c in axes.containers if isinstance(c, BarContainer)]


def test_table1_bars_are_the_means_with_sd_error_bars_beside_the_papers(tmp_path: Path) -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS, reference=REFERENCE)
    figure, data = table1_figure(table)
    assert data["metrics"] == list(METRICS) and data["variants"] == VARIANTS
    panels = [axes for axes in figure.axes if axes.get_visible() and axes.axison]
    assert [axes.get_title() for axes in panels] == [
        "dice", "sensitivity", "specificity (whole scan)", "specificity (brain)", "precision"]
    for metric, axes in zip(METRICS, panels, strict=True):
        ours, paper = _bars(axes)
        means = [row.summaries[metric].mean for row in table.rows]
        assert np.allclose(_heights(ours), means, equal_nan=True)
        assert data["ours"][metric]["mean"] == means
        assert data["ours"][metric]["sd"] == [row.summaries[metric].sd for row in table.rows]
        # The error bars span mean +- sd (the sd of "se+loss", one fold, is nan: no bar).
        segments = ours.errorbar.lines[2][0].get_segments()
        for (_, low), (_, high) in (s for s in segments):
            assert any(math.isclose(low + high, 2 * m) for m in means if not math.isnan(m))
        paper_means = [None if not row.reference.get(metric) else
                       float(row.reference[metric].split("+-")[0]) for row in table.rows]
        assert data["paper"][metric]["mean"] == paper_means
        assert np.allclose(_heights(paper), [np.nan if v is None else v for v in paper_means],
                           equal_nan=True)
    assert [p.get_hatch() for p in _bars(panels[0])[1]] == ["//"] * 3
    files = save_figure(figure, data, tmp_path, "table1")
    assert [f.name for f in files] == ["table1.png", "table1.svg", "table1.json"]
    saved = assert_valid_figure_files(tmp_path, "table1")
    assert saved["ours"]["dice"]["sd"][2] is None  # nan is written as null


def test_table1_without_paper_values_has_one_bar_per_variant() -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS)
    figure, data = table1_figure(table)
    assert data["paper"] == {}
    (ours,) = _bars(figure.axes[0])
    assert len(ours) == 3


def test_per_patient_lines_join_each_patient_across_variants() -> None:
    values = {"case-a": {"base": 0.4, "se": 0.5}, "case-b": {"base": 0.6, "se": 0.55},
              "case-c": {"se": 0.7}}
    figure, data = per_patient_figure(values, ["base", "se"], {"case-a": 0, "case-b": 1,
                                                               "case-c": 1})
    assert data["patients"] == {"case-a": [0.4, 0.5], "case-b": [0.6, 0.55],
                                "case-c": [None, 0.7]}
    assert data["mean"] == [0.5, (0.5 + 0.55 + 0.7) / 3]
    axes = figure.axes[0]
    lines = [line.get_ydata() for line in axes.lines]
    assert len(lines) == 3  # one line per patient
    assert np.allclose(lines[0], [0.4, 0.5]) and np.allclose(lines[1], [0.6, 0.55])
    assert np.isnan(lines[2][0]) and lines[2][1] == 0.7  # a missing value breaks the line
    assert data["fold"] == {"case-a": 0, "case-b": 1, "case-c": 1}


def test_figures_fit_a_paper_page_with_readable_fonts_and_no_empty_panel() -> None:
    """Issue 23: table1.png was 16.2 in wide with 8-pt ticks (3.5 pt printed at 7 in), its
    title said "+-" and its sixth panel was empty."""
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS, reference=REFERENCE)
    figure, _ = table1_figure(table)
    width, _ = figure.get_size_inches()
    assert width == pytest.approx(7.2)
    assert len(figure.axes) == len(METRICS)  # 3 + 2, the second row centred: none empty
    assert "±" in figure.get_suptitle() and "+-" not in figure.get_suptitle()
    texts = [label for axes in figure.axes
             for label in (*axes.get_xticklabels(), *axes.get_yticklabels(), axes.title)]
    assert min(text.get_fontsize() for text in texts) >= 7
    values = {"p1": {v: 0.5 for v in VARIANTS}}
    small, _ = per_patient_figure(values, VARIANTS, {"p1": 0})
    assert small.get_size_inches()[0] == pytest.approx(3.5)

"""platform.report.table2: Table 2 (overlap, seconds per patient, metrics) and its figure
(issue 13).

Until evaluation runs carry ``eval.overlap`` (issue 11), a Table 2 sweep logs one variant
per overlap (``sweeps/overlap.yaml``). The real-data test takes the finished tiny sweep's
runs and gives its two variants two overlaps, as such a sweep would have logged them.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from platform.report.figures import save_figure
from platform.report.figures.tables import overlap_figure
from platform.report.latex import booktabs
from platform.report.table2 import build_table2, overlap_of
from platform.tracking import TrialResult, fetch_trial_results, find_sweep_parent
from tests.platform.report.test_rebuild import assert_valid_figure_files

METRICS = {"dice": 0.6, "sensitivity": 0.7, "specificity": 0.99, "specificity_brain": 0.9,
           "precision": 0.6}


def _result(variant: str, fold: int, overlap: float | None, seconds: float,
            key: str = "eval.inference.overlap") -> TrialResult:
    params = {} if overlap is None else {key: repr(overlap)}
    return TrialResult(run_id=f"{variant}-{fold}", trial_id=f"{variant}-{fold}", variant=variant,
                       fold=fold, status="FINISHED",
                       metrics={**METRICS, "dice": 0.5 + _overlap_or(overlap) / 10 + fold / 100,
                                "seconds": seconds},
                       per_patient=[], failure_reason=None, params=params)


def _overlap_or(value: float | None) -> float:
    return 0.0 if value is None else value


def test_rows_group_runs_by_overlap_with_seconds_and_metrics_over_folds() -> None:
    results = [_result("overlap_25", f, 0.25, 40.0 + f) for f in (0, 1)]
    results += [_result("overlap_50", f, 0.5, 90.0 + 2 * f, key="eval.overlap") for f in (0, 1)]
    reference = {"overlap_25": {"seconds_per_patient": "45", "dice": "0.628 +- 0.033"}}
    table = build_table2(results, variants=["overlap_25", "overlap_50"], folds=[0, 1],
                         reference=reference)
    assert table is not None and [r.overlap for r in table.rows] == [0.25, 0.5]
    first, second = table.rows
    assert (first.seconds.mean, first.seconds.sd) == (40.5, pytest.approx(statistics.stdev(
        [40.0, 41.0])))
    assert second.seconds.mean == 91.0 and second.summaries["dice"].mean == pytest.approx(0.555)
    assert table.row_cells(first)[:4] == ["25 %", "2/2", "40.500 +- 0.707", "45"]
    assert table.row_cells(second)[3] == "-"  # no paper value for 50 %
    csv_lines = table.to_csv().splitlines()
    assert csv_lines[0].startswith("overlap,variants,n_folds,n_expected,device,"
                                   "seconds_per_patient_mean,seconds_per_patient_sd")
    assert csv_lines[1].startswith("0.25,overlap_25,2,2,,40.5,")
    point = first.point()
    assert (point.paper_seconds, point.paper_dice, point.paper_dice_sd) == (45.0, 0.628, 0.033)
    assert "| 25 % | 2/2 |" in table.to_markdown()
    tex = booktabs(table.header(), [table.row_cells(r) for r in table.rows], caption="Table 2",
                   label="tab:2")
    assert r"25 \% & 2/2 & 40.500 $\pm$ 0.707 & 45" in tex


def test_no_table_2_below_two_overlaps_or_for_unfinished_runs() -> None:
    one = [_result("a", 0, 0.25, 1.0), _result("b", 0, 0.25, 2.0), _result("c", 0, None, 3.0)]
    assert build_table2(one, variants=["a", "b", "c"], folds=[0]) is None
    failed = dataclasses.replace(_result("d", 0, 0.5, 1.0), status="FAILED")
    assert build_table2([*one, failed], variants=["a", "b", "d"], folds=[0]) is None
    assert overlap_of(_result("x", 0, None, 1.0)) is None


@pytest.mark.slow
def test_table_2_and_its_figure_from_real_runs(finished_tiny_sweep: Any, tmp_path: Path) -> None:
    uri = finished_tiny_sweep.uri
    real = fetch_trial_results(uri, find_sweep_parent(uri, "tiny"))
    overlaps = {"plain": 0.25, "final": 0.5}
    results = [dataclasses.replace(r, params={**r.params, "eval.overlap": repr(
        overlaps[r.variant])}) for r in real]
    table = build_table2(results, variants=["plain", "final"], folds=[0, 1],
                         reference={"final": {"seconds_per_patient": "90",
                                              "dice": "0.622 +- 0.022"}})
    assert table is not None
    for row in table.rows:
        runs = [r for r in real if overlaps[r.variant] == row.overlap]
        assert row.seconds.mean == pytest.approx(statistics.fmean(
            r.metrics["seconds_per_patient"] for r in runs), rel=1e-12)
        assert row.summaries["dice"].mean == pytest.approx(statistics.fmean(
            r.metrics["dice"] for r in runs), rel=1e-12)
    figure, data = overlap_figure([row.point() for row in table.rows])
    save_figure(figure, data, tmp_path, "table2")
    drawn = assert_valid_figure_files(tmp_path, "table2")["points"]
    for point, row in zip(drawn, table.rows, strict=True):
        assert (point["overlap"], point["seconds_mean"], point["dice_mean"], point["dice_sd"]) == (
            row.overlap, row.seconds.mean, row.summaries["dice"].mean, row.summaries["dice"].sd)
    assert drawn[1]["paper_seconds"] == 90.0 and drawn[0]["paper_seconds"] is None
    # The lines drawn: seconds and Dice against overlap (%), first two panels.
    time_axes, dice_axes, _ = figure.axes
    ours = time_axes.lines[0]
    assert np.allclose(ours.get_xdata(), [25.0, 50.0])
    assert np.allclose(ours.get_ydata(), [row.seconds.mean for row in table.rows])
    assert np.allclose(dice_axes.lines[0].get_ydata(),
                       [row.summaries["dice"].mean for row in table.rows])

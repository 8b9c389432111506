"""platform.report.table1: Table 1 cells, missing folds, Wilcoxon tests, renderings (issue 8)."""

from __future__ import annotations

import csv
import io
import logging
import math
import statistics

import pytest
from mlflow import MlflowClient
from rich.console import Console
from scipy.stats import wilcoxon

from platform.report.table1 import MetricSummary, build_table1, render_table1
from platform.tracking import (
    TrialResult,
    TrialRun,
    fetch_trial_results,
    log_table,
    run_tags,
    start_sweep_run,
)

METRICS = ("dice", "sensitivity", "specificity", "specificity_brain", "precision")
VARIANTS = ["base", "se", "se+loss"]
FOLDS = [0, 1, 2]
# Per-patient Dice of three held-out patients per fold; fold metrics are their means.
DICE_BY_FOLD = {
    "base": {0: [0.40, 0.52, 0.61], 1: [0.33, 0.58, 0.70], 2: [0.45, 0.50, 0.55]},
    "se": {0: [0.47, 0.55, 0.60], 1: [0.41, 0.66, 0.73]},
    "se+loss": {0: [0.50, 0.59, 0.66]},
}
REFERENCE = {"base": {"dice": "0.508 +- 0.037"}, "se": {"dice": "0.612 +- 0.064",
                                                        "precision": "0.619 +- 0.044"}}


def _result(variant: str, fold: int, status: str = "FINISHED", *,
            reason: str | None = None, run_id: str | None = None) -> TrialResult:
    dice = DICE_BY_FOLD.get(variant, {}).get(fold, [0.5, 0.6, 0.7])
    rows = [{"case": f"case-{fold}{i}", "dice": d} for i, d in enumerate(dice)]
    metrics = {}
    if status == "FINISHED":
        mean = statistics.fmean(dice)
        metrics = {"dice": mean, "sensitivity": mean + 0.1, "specificity": 0.99 + fold / 1000,
                   "specificity_brain": 0.9 + fold / 100, "precision": mean - 0.05 * fold}
    return TrialResult(run_id=run_id or f"{variant}-{fold}-{status}", trial_id=f"{variant}-{fold}",
                       variant=variant, fold=fold, status=status, metrics=metrics,
                       per_patient=rows if status == "FINISHED" else [], failure_reason=reason)


def _results() -> list[TrialResult]:
    return [
        *(_result("base", f) for f in FOLDS),
        _result("se", 0), _result("se", 1),
        _result("se", 2, "FAILED", reason="NonFiniteLossError: loss is nan at iteration 12"),
        _result("se+loss", 0),
        _result("se+loss", 2, "KILLED", reason="KeyboardInterrupt: the trial was stopped"),
    ]


def _fold_values(variant: str, metric: str) -> list[float]:
    return [r.metrics[metric] for r in _results()
            if r.variant == variant and r.status == "FINISHED"]


def test_cells_are_mean_and_sample_sd_over_finished_folds() -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS)
    assert [row.variant for row in table.rows] == VARIANTS
    for row in table.rows[:2]:
        for metric in METRICS:
            values = _fold_values(row.variant, metric)
            summary = row.summaries[metric]
            assert summary.n == len(values)
            assert summary.mean == pytest.approx(statistics.fmean(values), abs=1e-15)
            assert summary.sd == pytest.approx(statistics.stdev(values), abs=1e-15)
    single = table.rows[2].summaries["dice"]
    assert single.n == 1 and math.isnan(single.sd)
    assert single.cell() == f"{single.mean:.3f} +- n/a"


def test_missing_folds_are_listed_with_reasons_and_left_out() -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS)
    base, se, se_loss = table.rows
    assert base.folds_done == (0, 1, 2) and dict(base.missing) == {}
    assert se.folds_done == (0, 1)
    assert dict(se.missing) == {2: "failed: NonFiniteLossError: loss is nan at iteration 12"}
    assert dict(se_loss.missing) == {1: "not run",
                                     2: "killed: KeyboardInterrupt: the trial was stopped"}
    assert se_loss.missing_text() == (
        "fold 1: not run; fold 2: killed: KeyboardInterrupt: the trial was stopped")
    assert not table.complete
    only_base = build_table1(_results(), variants=["base"], folds=FOLDS)
    assert only_base.complete


def test_running_failed_and_incomplete_runs_each_say_why() -> None:
    lacking = _result("se", 1)
    lacking = TrialResult(**{**lacking.__dict__, "metrics": {"dice": 0.5}})
    results = [_result("se", 0, "RUNNING"), lacking,
               _result("se", 2, "FAILED"), _result("se", 2, "FINISHED")]
    row = build_table1(results, variants=["se"], folds=FOLDS).rows[0]
    assert row.missing[0].startswith("still running")
    assert row.missing[1] == ("finished without metrics ['sensitivity', 'specificity', "
                              "'specificity_brain', 'precision']")
    assert row.folds_done == (2,)  # a retry that finished wins over the failed attempt
    empty = build_table1([], variants=["se"], folds=[0]).rows[0]
    assert empty.summaries["dice"].cell() == "n/a" and empty.missing == {0: "not run"}


def test_wilcoxon_is_paired_by_case_key_against_the_previous_variant() -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS)
    base, se, se_loss = table.rows
    assert base.test is None
    common = [f"case-{f}{i}" for f in (0, 1) for i in range(3)]
    by_case = {v: {f"case-{f}{i}": d for f, ds in folds.items() for i, d in enumerate(ds)}
               for v, folds in DICE_BY_FOLD.items()}
    expected = wilcoxon([by_case["se"][c] for c in common],
                        [by_case["base"][c] for c in common]).pvalue
    assert se.test is not None and se.test.metric == "dice" and se.test.versus == "base"
    assert se.test.n_pairs == 6 and se.test.p_value == pytest.approx(expected, rel=1e-12)
    assert se_loss.test is not None and se_loss.test.n_pairs == 3 and se_loss.test.versus == "se"


def test_wilcoxon_is_not_computed_without_enough_distinct_pairs() -> None:
    one = TrialResult("r1", "t1", "a", 0, "FINISHED", dict.fromkeys(METRICS, 0.5),
                      [{"case": "case-1", "dice": 0.5}, {"case": "case-2", "dice": 0.7}], None)
    other = TrialResult("r2", "t2", "b", 0, "FINISHED", dict.fromkeys(METRICS, 0.5),
                        [{"case": "case-1", "dice": 0.6}, {"case": "case-9", "dice": 0.7}], None)
    same = TrialResult("r3", "t3", "c", 0, "FINISHED", dict.fromkeys(METRICS, 0.5),
                       [{"case": "case-1", "dice": 0.6}, {"case": "case-9", "dice": 0.7}], None)
    table = build_table1([one, other, same], variants=["a", "b", "c"], folds=[0])
    assert table.rows[1].test is not None and table.rows[1].test.p_value is None
    assert table.rows[1].test.cell() == "n/a: 1 common patient(s) with dice, need >= 2"
    assert table.rows[2].test is not None and table.rows[2].test.p_value is None
    assert table.rows[2].test.note == "all paired differences are zero"


def test_inconsistent_results_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="2 finished runs"):
        build_table1([_result("se", 0), _result("se", 0, run_id="again")],
                     variants=["se"], folds=[0])
    twice = TrialResult(**{**_result("se", 1).__dict__, "per_patient": [{"case": "case-00"}]})
    with pytest.raises(ValueError, match="case case-00 was evaluated in two folds"):
        build_table1([_result("se", 0), twice], variants=["se"], folds=[0, 1])
    with pytest.raises(ValueError, match="unique"):
        build_table1([], variants=["se", "se"], folds=[0])
    with caplog.at_level(logging.WARNING, logger="platform.report.table1"):
        build_table1([_result("base", 0), _result("other", 0)], variants=["base"], folds=[0])
    assert "variant 'other'" in caplog.text


def test_markdown_csv_metrics_and_terminal_rendering() -> None:
    table = build_table1(_results(), variants=VARIANTS, folds=FOLDS, reference=REFERENCE)
    base, se, se_loss = table.rows
    markdown = table.to_markdown().splitlines()
    assert markdown[0].startswith("| Variant | Folds | dice | dice (paper) | sensitivity |")
    assert markdown[0].endswith("| Wilcoxon p (dice vs previous) | Missing folds |")
    assert markdown[2].startswith(f"| base | 3/3 | {base.summaries['dice'].cell()} | "
                                  "0.508 +- 0.037 |")
    assert "fold 2: failed: NonFiniteLossError" in markdown[3]
    assert f"{se.test.p_value:.3g} (n=6)" in markdown[3]  # type: ignore[union-attr]

    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert [r["variant"] for r in rows] == VARIANTS
    assert float(rows[1]["dice_mean"]) == se.summaries["dice"].mean
    assert float(rows[1]["dice_sd"]) == se.summaries["dice"].sd
    assert rows[2]["dice_sd"] == "" and rows[2]["n_folds"] == "1"
    assert rows[1]["paper_precision"] == "0.619 +- 0.044" and rows[0]["test_p"] == ""
    assert rows[1]["missing"] == "fold 2: failed: NonFiniteLossError: loss is nan at iteration 12"

    metrics = table.to_metrics()
    assert metrics["t1.se.dice_mean"] == se.summaries["dice"].mean
    assert metrics["t1.se_loss.n_folds"] == 1.0  # '+' is not allowed in an MLflow key
    assert metrics["t1.se.wilcoxon_p_dice"] == se.test.p_value  # type: ignore[union-attr]
    assert "t1.se_loss.dice_sd" not in metrics and "t1.base.wilcoxon_p_dice" not in metrics

    console = Console(record=True, width=400, color_system=None)
    render_table1(table, console)
    text = console.export_text()
    assert "0.508 ± 0.037" in text  # the terminal writes ± (Markdown, CSV keep +-)
    assert se_loss.summaries["dice"].cell().replace(" +- ", " ± ") in text
    assert "fold 1: not run" in text and "Missing folds" in text
    # A narrow terminal puts each sd under its mean: a row takes two lines, not three.
    narrow = Console(record=True, width=100, color_system=None)
    complete = build_table1([r for r in _results() if r.status == "FINISHED"],
                            variants=["base"], folds=FOLDS)
    render_table1(complete, narrow)
    lines = narrow.export_text().splitlines()
    (base,) = [i for i, line in enumerate(lines) if line.lstrip().startswith("base ")]
    mean, sd = complete.rows[0].summaries["dice"].cell().split(" +- ")
    assert lines[base].split()[2] == mean and lines[base + 1].split()[:2] == ["±", sd]
    assert "Missing folds" not in narrow.export_text()  # complete: the column is left out


@pytest.mark.parametrize(
    ("summary", "text"),
    [(MetricSummary(0.50812, 0.03701, 5), "0.508 +- 0.037"),  # the paper's Table 1 style
     (MetricSummary(0.99753, 0.0014, 5), "0.9975 +- 0.0014"),
     (MetricSummary(0.998, 0.00092, 5), "0.99800 +- 0.00092"),
     (MetricSummary(0.597, 0.09, 5), "0.597 +- 0.090"),
     (MetricSummary(0.5, 0.0, 2), "0.500 +- 0.000"),
     (MetricSummary(0.5, math.nan, 1), "0.500 +- n/a"),
     (MetricSummary(math.nan, math.nan, 0), "n/a"),
     (MetricSummary(math.nan, math.nan, 3), "nan (undefined in a fold)")],
)
def test_metric_summary_cells(summary: MetricSummary, text: str) -> None:
    assert summary.cell() == text


def test_two_variant_two_fold_sweep_through_mlflow(mlflow_sqlite_uri: str) -> None:
    """Issue 8: 4 child runs; the table's cells equal mean/sd of the child runs' metrics."""
    parent = start_sweep_run(mlflow_sqlite_uri, "tiny", sweep_name="tiny", sweep_id="s1",
                             config_yaml="name: tiny\n", source_yaml="name: tiny\n", tags={})
    for v_index, variant in enumerate(["base", "se"]):
        for fold in (0, 1):
            tags = run_tags(variant=variant, fold=fold, sweep_id="s1",
                            trial_id=f"{variant}-{fold}")
            with TrialRun(mlflow_sqlite_uri, "tiny", parent_run_id=parent,
                          run_name=f"{variant}/fold{fold}", tags=tags) as run:
                dice = [0.4 + 0.1 * v_index + 0.05 * fold + 0.01 * i for i in range(3)]
                run.log_per_patient([{"case": f"case-{fold}{i}", "dice": d}
                                     for i, d in enumerate(dice)])
                run.log_metrics({"dice": statistics.fmean(dice), "sensitivity": 0.6 + fold / 10,
                                 "specificity": 0.99, "specificity_brain": 0.9,
                                 "precision": 0.5 + v_index / 10})
    results = fetch_trial_results(mlflow_sqlite_uri, parent)
    assert len(results) == 4
    table = build_table1(results, variants=["base", "se"], folds=[0, 1])
    client = MlflowClient(mlflow_sqlite_uri)
    experiment = client.get_experiment_by_name("tiny").experiment_id  # type: ignore[union-attr]
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 4
    for row in table.rows:
        for metric in METRICS:
            stored = [r.data.metrics[metric] for r in children
                      if r.data.tags["variant"] == row.variant]
            assert row.summaries[metric].mean == pytest.approx(statistics.fmean(stored))
            assert row.summaries[metric].sd == pytest.approx(statistics.stdev(stored))
    assert table.rows[1].test is not None and table.rows[1].test.n_pairs == 6
    log_table(mlflow_sqlite_uri, parent, markdown=table.to_markdown(), csv=table.to_csv(),
              metrics=table.to_metrics())
    logged = client.get_run(parent).data.metrics
    assert logged["t1.se.dice_mean"] == pytest.approx(table.rows[1].summaries["dice"].mean)
    assert {f.path for f in client.list_artifacts(parent)} >= {"table1.md", "table1.csv"}


def test_notes_say_what_is_counted_and_name_every_case_whose_lesion_was_cut() -> None:
    results = _results()
    cut = results[0]
    cut.per_patient[0]["lesion_lost"] = 0.012
    table = build_table1(results, variants=["base", "se"], folds=[0, 1, 2],
                         notes=["a note from the search"])
    assert table.notes[0].startswith("Every metric is taken per patient on the scan's original")
    assert "a note from the search" in table.notes
    assert (f"{cut.per_patient[0]['case']} (fold {cut.fold}): preprocessing took 1.20 % of the "
            f"lesion in {cut.variant}") in table.notes
    markdown = table.to_markdown()
    assert "| specificity (whole scan) |" in markdown and "specificity (brain)" in markdown
    assert markdown.rstrip().endswith(f"took 1.20 % of the lesion in {cut.variant}")


def test_table2_shows_seconds_and_patches_per_patient_with_the_device() -> None:
    """Issue 11: variants that share a training (overlaps) print Table 2's cost columns."""
    results = []
    for overlap, seconds, patches in (("overlap_25", (2.0, 4.0), (10, 12)),
                                      ("overlap_50", (6.0, 10.0), (40, 44))):
        for fold in (0, 1):
            base = _result("base", fold)
            metrics = {**base.metrics, "seconds_per_patient": seconds[fold],
                       "patches_per_patient": float(patches[fold])}
            results.append(TrialResult(
                run_id=f"{overlap}-{fold}", trial_id=f"{overlap}-{fold}", variant=overlap,
                fold=fold, status="FINISHED", metrics=metrics, per_patient=base.per_patient,
                failure_reason=None, device="NVIDIA T4"))
    table = build_table1(results, variants=["overlap_25", "overlap_50"], folds=[0, 1],
                         reference={"overlap_25": {"seconds_per_patient": "45"}}, timing=True)
    assert table.title.startswith("Table 2")
    header = table.header()
    assert "seconds per patient (NVIDIA T4)" in header and "patches per patient" in header
    fast, slow = (dict(zip(header, table.row_cells(row), strict=True)) for row in table.rows)
    assert fast["seconds per patient (NVIDIA T4)"] == "3.000 +- 1.414"
    assert slow["seconds per patient (NVIDIA T4)"] == "8.000 +- 2.828"
    assert fast["patches per patient"] == "11.000 +- 1.414"
    assert fast["seconds_per_patient (paper)"] == "45"
    assert any("tiled inference of one scan" in note for note in table.notes)
    assert not build_table1(results, variants=["overlap_25"], folds=[0, 1]).devices

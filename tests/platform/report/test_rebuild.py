"""platform.report.rebuild: tables and figures rebuilt from MLflow alone, equal to what the sweep
logged (issue 13).

The end-to-end tests read the session's finished tiny sweep (``finished_tiny_sweep``,
real Ray, real MLflow); nothing is trained here.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from platform.report.rebuild import TableLayout, infer_layout, main
from platform.tracking import fetch_trial_results, find_sweep_parent, metric_history

TABLE_METRICS = ("dice", "sensitivity", "specificity", "specificity_brain", "precision")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_valid_figure_files(folder: Path, name: str) -> dict[str, Any]:
    """``name``.png is a PNG, ``.svg`` an SVG document, ``.json`` strict JSON; its data."""
    assert (folder / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    root = ElementTree.parse(folder / f"{name}.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return json.loads((folder / f"{name}.json").read_text())


def _logged(client: MlflowClient, run_id: str, path: str, tmp: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(tmp))).read_text()


@pytest.fixture(scope="module")
def report(finished_tiny_sweep: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m platform.report tiny`` on the finished sweep, into a fresh folder."""
    out = tmp_path_factory.mktemp("report") / "tiny"
    code = main(["tiny", "--out", str(out), "--tracking-uri", finished_tiny_sweep.uri])
    assert code == 0
    return out


@pytest.mark.slow
def test_report_reproduces_the_table_the_sweep_logged(finished_tiny_sweep: Any, report: Path,
                                                      tmp_path: Path) -> None:
    uri = finished_tiny_sweep.uri
    parent = find_sweep_parent(uri, "tiny")
    client = MlflowClient(uri)
    for name in ("table1.csv", "table1.md", "table1.tex"):
        assert (report / name).read_text() == _logged(client, parent, name, tmp_path), name
    tex = (report / "table1.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"$\pm$" in tex
    assert not (report / "table2.csv").exists()  # one overlap only: no Table 2
    # The rows are the child runs' numbers (what test_sweep checks against the runs).
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(
        (report / "table1.csv").read_text()))}
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent}' and tags.run_kind = 'evaluation'")
    for variant, row in rows.items():
        values = [r.data.metrics["dice"] for r in children if r.data.tags["variant"] == variant]
        assert float(row["dice_mean"]) == pytest.approx(statistics.fmean(values), rel=1e-12)


@pytest.mark.slow
def test_every_report_figure_draws_the_tables_numbers(finished_tiny_sweep: Any,
                                                      report: Path) -> None:
    figures = report / "figures"
    table = {r["variant"]: r for r in csv.DictReader(io.StringIO(
        (report / "table1.csv").read_text()))}
    bars = assert_valid_figure_files(figures, "table1")
    assert bars["variants"] == ["plain", "final"] and bars["paper"] == {}
    for metric in TABLE_METRICS:
        for index, variant in enumerate(bars["variants"]):
            assert bars["ours"][metric]["mean"][index] == float(table[variant][f"{metric}_mean"])
            assert bars["ours"][metric]["sd"][index] == float(table[variant][f"{metric}_sd"])
    # Per-patient Dice: each fold's patients average to that fold's run, the folds to Table 1.
    patients = assert_valid_figure_files(figures, "per_patient_dice")
    results = fetch_trial_results(finished_tiny_sweep.uri,
                                  find_sweep_parent(finished_tiny_sweep.uri, "tiny"))
    assert len(patients["patients"]) == 4  # every patient of the cohort, once
    for index, variant in enumerate(patients["variants"]):
        fold_means = []
        for result in (r for r in results if r.variant == variant):
            mine = [values[index] for case, values in patients["patients"].items()
                    if patients["fold"][case] == result.fold]
            assert statistics.fmean(mine) == pytest.approx(result.metrics["dice"], rel=1e-12)
            fold_means.append(statistics.fmean(mine))
        assert statistics.fmean(fold_means) == pytest.approx(
            float(table[variant]["dice_mean"]), rel=1e-12)
    # Learning curves: the metric history of the trial's training run, step for step.
    for result in results:
        curves = assert_valid_figure_files(
            report / "trials" / f"{result.variant}-fold{result.fold}", "learning_curves")
        for key in ("train_loss", "lr"):
            assert [tuple(p) for p in curves[key]] == metric_history(
                finished_tiny_sweep.uri, result.tags["training_run"], key)
        assert [p[0] for p in curves["train_loss"]] == [1, 2]  # tiny.yaml: 2 iterations


@pytest.mark.slow
def test_the_sweep_logged_the_same_figures_on_its_runs(finished_tiny_sweep: Any, report: Path,
                                                       tmp_path: Path) -> None:
    uri = finished_tiny_sweep.uri
    parent = find_sweep_parent(uri, "tiny")
    client = MlflowClient(uri)
    on_parent = {f.path for f in client.list_artifacts(parent, "figures")}
    figures = ("table1", "per_patient_dice", "effects_forest", "rank_stability",
               "lesion_strata")
    assert on_parent == {f"figures/{n}.{s}" for n in figures for s in ("png", "svg", "json")}
    for name in figures:
        logged = json.loads(_logged(client, parent, f"figures/{name}.json", tmp_path))
        assert logged == json.loads((report / "figures" / f"{name}.json").read_text())
    layout = TableLayout.from_json(_logged(client, parent, "table1_layout.json", tmp_path))
    assert layout.variants == ("plain", "final") and layout.folds == (0, 1)
    for result in fetch_trial_results(uri, parent):
        curves = {f.path for f in client.list_artifacts(result.tags["training_run"], "figures")}
        assert {"figures/learning_curves.png", "figures/learning_curves.svg"} <= curves
        files = {f.path for f in client.list_artifacts(result.run_id, "figures")}
        overlays = [f for f in files if f.startswith("figures/case-")]
        # One Fig. 4-style overlay (eval.figure_patients=1), named by the pseudonymous key.
        assert len(overlays) == 1
        assert overlays[0].removeprefix("figures/").removesuffix(".png") in {
            row["case"] for row in result.per_patient}


@pytest.mark.slow
def test_layout_is_inferred_for_a_sweep_that_logged_none(finished_tiny_sweep: Any) -> None:
    uri = finished_tiny_sweep.uri
    results = fetch_trial_results(uri, find_sweep_parent(uri, "tiny"))
    sweep = {"variants": [{"name": "plain", "reference": {"dice": "0.508 +- 0.037"}},
                          {"name": "final"}, {"name": "never_run"}],
             "cv": {"folds": 2, "run_folds": None}}
    layout = infer_layout(sweep, results)
    assert layout.variants == ("plain", "final") and layout.folds == (0, 1)
    assert layout.reference == {"plain": {"dice": "0.508 +- 0.037"}}
    assert layout.table1(results).complete


def test_an_unknown_sweep_exits_2_naming_the_store(mlflow_sqlite_uri: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-sweep", "--tracking-uri", mlflow_sqlite_uri]) == 2
    err = capsys.readouterr().err
    assert "no sweep 'no-such-sweep'" in err and mlflow_sqlite_uri in err

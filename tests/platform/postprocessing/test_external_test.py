"""End to end (issue 14): a sweep on an nnU-Net dataset, post-processing chosen on CV, fold
ensembles scored on an external test cohort (``platform/postprocessing/external_test.py``).

One tiny sweep (two folds at once, two iterations each) runs ``platform.sweep.__main__.main`` on
the session's local Ray (shared with other tests: no second start) and a real MLflow
store, on an nnU-Net v2 folder of NIfTI files exported from the synthetic DICOM cohort,
whose ``imagesTs`` is the external test cohort. The checks read what a
user reads: the parent run's ``postprocessing.json`` and external-test artifacts, each
fold's ``summary.json``, Table 1's notes, and ``platform.postprocessing.predict --variant``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from mlflow import MlflowClient

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.io.nnunet_export import write_nnunet_dataset
from platform.evaluation.nnunet import check_summary
from platform.postprocessing.choice import candidate_column
from platform.postprocessing.ensemble import load_variant_ensemble
from platform.postprocessing.predict import main as predict_main
from platform.sweep.__main__ import main as sweep_main
from platform.tracking import fetch_trial_results, load_trial_model
from platform.tracking.ensemble_model import MEMBERS_TAG
from tests.platform.sweep.harness import TWO_AT_A_TIME, write_sweep

CANDIDATES = ["keep_largest_component", {"remove_small_components": {"min_volume_ml": 0.01}}]


def _artifact(client: MlflowClient, run_id: str, name: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(client.download_artifacts(run_id, name, tmp))
        return json.loads(path.read_text()) if name.endswith(".json") else path.read_text()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, ray_local: None,
             synthetic_cohort: Callable[..., Path]) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("external-test")
    cv = load_cohort(synthetic_cohort(4, (32, 48, 48), 0))
    external = load_cohort(synthetic_cohort(2, (32, 48, 48), 7))
    test = [replace(ref, key=f"ext-{i:03d}") for i, ref in enumerate(external)]
    dataset = write_nnunet_dataset(root / "raw", cv, test, name="Dataset501_Tiny")
    sweep = write_sweep(root / "sweep.yaml", {
        "data": {"cohort": str(dataset), "test_cohort": str(dataset / "imagesTs"),
                 "cache_root": str(root / "cache")},
        "cv": {"folds": 2, "seed": 0},
        "variants": [{"name": "final", "eval": {"postprocessing": CANDIDATES}}]})
    uri = f"sqlite:///{root / 'mlflow.db'}"
    code = sweep_main([str(sweep), f"ray.storage_path={root / 'ray'}", f"tracking.uri={uri}",
                       *TWO_AT_A_TIME])
    assert code == 0, "the sweep on the nnU-Net dataset did not finish every trial"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.run_kind = 'sweep'")
    return {"root": root, "dataset": dataset, "uri": uri, "client": client, "sweep": sweep,
            "parent": parent.info.run_id, "cv_keys": sorted(r.key for r in cv)}


def test_the_nnunet_dataset_runs_every_fold_and_no_test_case_enters_cv(finished: dict) -> None:
    results = fetch_trial_results(finished["uri"], finished["parent"])
    assert sorted((r.variant, r.fold, r.status) for r in results) == [
        ("final", 0, "FINISHED"), ("final", 1, "FINISHED")]
    tested = sorted(row["case"] for r in results for row in r.per_patient)
    assert tested == finished["cv_keys"]  # every CV case once, no ext-* case
    for result in results:
        summary = _artifact(finished["client"], result.run_id, "summary.json")
        check_summary(summary)
        for case, row in zip(summary["metric_per_case"], result.per_patient, strict=True):
            counts = case["metrics"]["1"]
            assert (counts["TP"], counts["FP"], counts["FN"], counts["TN"]) == (
                row["tp"], row["fp"], row["fn"], row["tn"])
            assert {"lesion_f1", "surface_dice", candidate_column(1)} <= set(row)


def test_postprocessing_is_chosen_on_cv_predictions_only_if_it_raises_dice(
        finished: dict) -> None:
    results = fetch_trial_results(finished["uri"], finished["parent"])
    rows = [row for r in results for row in r.per_patient]
    choice = _artifact(finished["client"], finished["parent"], "postprocessing.json")["final"]
    assert choice["cases"] == 4
    assert choice["baseline_dice"] == pytest.approx(np.mean([r["dice"] for r in rows]))
    means = [np.mean([r[candidate_column(i)] for r in rows]) for i in range(2)]
    assert [c["mean_dice"] for c in choice["candidates"]] == pytest.approx(means)
    best = int(np.argmax(means))
    expected = choice["candidates"][best]["postprocessing"] \
        if means[best] > choice["baseline_dice"] else None
    assert choice["chosen"] == expected
    table = _artifact(finished["client"], finished["parent"], "table1.md")
    assert "chosen" in table and "cross-validation predictions" in table


def test_the_fold_ensemble_is_scored_on_the_external_test_cohort(finished: dict) -> None:
    client, parent = finished["client"], finished["parent"]
    scores = _artifact(client, parent, "external_test/final/scores.json")
    choice = _artifact(client, parent, "postprocessing.json")["final"]
    assert scores["folds"] == [0, 1] and scores["postprocessing"] == choice["chosen"]
    assert [row["case"] for row in scores["rows"]] == ["ext-000", "ext-001"]
    assert scores["means"]["dice"] == pytest.approx(np.mean([r["dice"] for r in scores["rows"]]))
    check_summary(_artifact(client, parent, "external_test/final/summary.json"))
    assert "external test cohort (2 patients, never in cross-validation)" in \
        _artifact(client, parent, "table1.md")
    # ... and logged as the model final-ensemble, with that score under its own name (issue 23)
    experiment = client.get_run(parent).info.experiment_id
    (run,) = client.search_runs([experiment], "tags.run_kind = 'ensemble'")
    model = client.get_logged_model(run.data.tags["model_uri"].removeprefix("models:/"))
    linked = {m.key: m.value for m in model.metrics or []}
    assert model.name == "final-ensemble" and "dice" not in linked
    assert linked["external_test_dice"] == pytest.approx(scores["means"]["dice"])
    assert json.loads(run.data.tags[MEMBERS_TAG])["postprocessing"] == choice["chosen"]


def test_the_loaded_ensemble_averages_the_fold_models(finished: dict) -> None:
    ensemble, _, folds = load_variant_ensemble(finished["uri"], finished["parent"], "final")
    members = [load_trial_model(finished["uri"], r.run_id)[0]
               for r in sorted(fetch_trial_results(finished["uri"], finished["parent"]),
                               key=lambda r: r.fold)]
    patch = torch.rand(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean = sum(torch.sigmoid(m.eval()(patch)) for m in members) / 2
        together = torch.sigmoid(ensemble.eval()(patch))
    assert folds == [0, 1]
    torch.testing.assert_close(together, mean, atol=1e-6, rtol=0)


def test_predict_with_a_variant_segments_a_nifti_case(finished: dict, tmp_path: Path) -> None:
    image = finished["dataset"] / "imagesTs" / "ext-000_0000.nii.gz"
    out = tmp_path / "mask.nii.gz"
    assert predict_main(["--model", finished["parent"], "--variant", "final", "--dicom",
                         str(image), "--out", str(out), "--tracking-uri", finished["uri"],
                         "--device", "cpu"]) == 0
    written, source = sitk.ReadImage(str(out)), sitk.ReadImage(str(image))
    assert written.GetSize() == source.GetSize()
    assert np.allclose(written.GetDirection(), source.GetDirection())
    assert np.allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-3)
    row = _artifact(finished["client"], finished["parent"],
                    "external_test/final/scores.json")["rows"][0]
    predicted = int(sitk.GetArrayFromImage(written).sum())
    # The same pipeline; only the cache's 16-bit image storage may move a voxel.
    assert abs(predicted - (row["tp"] + row["fp"])) <= max(2, 0.005 * predicted)
    assert predict_main(["--model", finished["parent"], "--variant", "final", "--dicom",
                         str(image), "--out", str(tmp_path / "seg.dcm")]) == 2  # SEG needs DICOM


def test_a_test_cohort_that_repeats_cv_cases_is_refused_before_anything_runs(
        finished: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code = sweep_main([str(finished["sweep"]), f"data.test_cohort={finished['dataset']}",
                       "--dry-run"])
    assert code == 2
    error = capsys.readouterr().err
    assert "data.test_cohort" in error and "repeats cross-validation cases" in error

"""Tests of platform/trial/baseline_fold.py: the nnU-Net row end to end on a toy cohort.

Real nnU-Net v2 (the ``baselines`` extra), on the CPU: the cohort exported, planned and
preprocessed, nnU-Net's stock trainer run for one epoch of two iterations on fold 0,
its predictions scored by our evaluation, all logged to a real MLflow store.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.preprocess.remove_skull import brain_mask
from platform.config import load_sweep
from platform.config.request import TrialRequest
from platform.evaluation.metrics import METRIC_NAMES, segmentation_metrics
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.tracking.store import mlflow_client
from platform.trial.nnunet_fold import DATASET_NAME
from platform.trial.run import ConsoleReporter, run_trial

pytest.importorskip("nnunetv2", reason='pip install -e ".[baselines]"')
pytestmark = pytest.mark.slow  # nnU-Net spawns worker processes for every step: minutes on 2 cores

TINY_NNUNET = {"name": "nnunet", "epochs": 1, "iterations_per_epoch": 2,
               "val_iterations_per_epoch": 1, "workers": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def nnunet_trial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Fold 0 of a 6-patient, 2-fold toy sweep whose one variant is nnU-Net."""
    tmp = tmp_path_factory.mktemp("nnunet")
    (tmp / "sweep.yaml").write_text(yaml.safe_dump({
        "name": "nnunet_toy",
        "data": {"synthetic": {"patients": 6, "shape": [32, 48, 48], "seed": 0},
                 "cache_root": str(tmp / "cache")},
        "cv": {"folds": 2, "seed": 0, "run_folds": [0]},
        "variants": [{"name": "nnunet", "baseline": TINY_NNUNET}],
        "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}"},
    }))
    sweep = load_sweep(tmp / "sweep.yaml")
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    (spec,) = keyed(expand(sweep), context)

    def run() -> object:
        request = TrialRequest(spec=spec, context=context)
        reporter = ConsoleReporter(tmp / "work" / "checkpoint", iterations=1)
        (outcome,) = run_trial(request, reporter, work_dir=tmp / "work")
        return outcome

    return {"outcome": run(), "again": run(), "context": context, "spec": spec}


def _results(context) -> Path:
    (fold,) = Path(context.cache_root).glob(
        f"nnunet/*/results/*/{DATASET_NAME}/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0")
    return fold


def test_nnunet_used_our_split_and_predicted_our_test_patients(nnunet_trial: dict) -> None:
    context = nnunet_trial["context"]
    fold = context.folds[0]
    (splits,) = Path(context.cache_root).glob(f"nnunet/*/preprocessed/{DATASET_NAME}/"
                                              "splits_final.json")
    assert json.loads(splits.read_text()) == [
        {"train": list(f.train), "val": list(f.test)} for f in context.folds]
    results = _results(context)
    debug = json.loads((results / "debug.json").read_text())  # what nnU-Net's trainer ran
    assert (debug["num_epochs"], debug["num_iterations_per_epoch"],
            debug["num_val_iterations_per_epoch"], debug["device"]) == ("1", "2", "1", "cpu")
    predicted = sorted(p.name.removesuffix(".nii.gz")
                       for p in (results / "validation").glob("*.nii.gz"))
    assert predicted == sorted(fold.test)
    assert [row["case"] for row in nnunet_trial["outcome"].rows] == list(fold.test)


def test_scores_are_our_metrics_of_nnunets_saved_predictions(nnunet_trial: dict) -> None:
    context = nnunet_trial["context"]
    refs = {ref.key: ref for ref in load_cohort(Path(context.cohort))}
    validation = _results(context) / "validation"
    for row in nnunet_trial["outcome"].rows:
        case = load_case(refs[row["case"]])
        image = sitk.ReadImage(str(validation / f"{row['case']}.nii.gz"))
        assert image.GetSpacing() == pytest.approx(case.geometry.spacing[::-1])
        mask = sitk.GetArrayFromImage(image).astype(np.uint8)
        assert mask.shape == case.lesion.shape  # the scan's original grid, every voxel
        expected = segmentation_metrics(mask, case.lesion, case.geometry.spacing,
                                        brain_mask(case.hu))
        for name in METRIC_NAMES:
            assert row[name] == pytest.approx(expected[name], nan_ok=True), name
        assert row["lesion_lost"] == 0.0 and math.isnan(float(row["patches"]))


def test_runs_hold_nnunets_files_and_a_rerun_reuses_the_row(nnunet_trial: dict) -> None:
    outcome, again = nnunet_trial["outcome"], nnunet_trial["again"]
    client = mlflow_client(nnunet_trial["context"].tracking_uri)

    def names(run_id: str, folder: str | None = None) -> set[str]:
        return {Path(a.path).name for a in client.list_artifacts(run_id, folder)}

    assert {"summary.json", "nnunet_summary.json", "per_patient.csv"} <= names(outcome.run_id)
    training = outcome.training_run_id
    assert {"checkpoint_final.pth"} <= names(training, "nnunet/fold")
    assert {"summary.json", *(f"{k}.nii.gz" for k in nnunet_trial["context"].folds[0].test)} \
        <= names(training, "nnunet/predictions")
    assert {"plans.json", "dataset.json"} <= names(training, "nnunet")
    tags = client.get_run(training).data.tags
    assert (tags["baseline"], tags["run_kind"]) == ("nnunet", "training")
    assert again.reused and again.run_id == outcome.run_id
    assert again.fold_means["dice"] == pytest.approx(outcome.fold_means["dice"])

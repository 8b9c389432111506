"""platform.evaluation.nnunet: nnU-Net v2 ``summary.json`` and the MONAI Auto3DSeg datalist."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from data_pipeline.cohort.cohort import CaseRef
from platform.evaluation.nnunet import (
    NNUNET_CASE_METRICS,
    auto3dseg_datalist,
    check_summary,
    nnunet_summary,
    read_summary,
)

ROWS = [{"case": "case-000", "tp": 30, "fp": 10, "fn": 20, "tn": 940, "dice": 0.6},
        {"case": "case-001", "tp": 0, "fp": 0, "fn": 0, "tn": 1000, "dice": 1.0},
        {"case": "case-002", "tp": 5, "fp": 0, "fn": 5, "tn": 990, "dice": 0.5}]

# nnU-Net v2's keys, as nnunetv2/evaluation/evaluate_predictions.py writes them.
TOP_KEYS = {"metric_per_case", "mean", "foreground_mean"}
CASE_KEYS = {"metrics", "prediction_file", "reference_file"}
METRIC_KEYS = {"Dice", "IoU", "FP", "TP", "FN", "TN", "n_pred", "n_ref"}


def test_summary_json_written_and_read_back_has_nnunet_v2_keys(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(nnunet_summary(ROWS), indent=2))
    summary = read_summary(path)
    assert set(summary) == TOP_KEYS and set(NNUNET_CASE_METRICS) == METRIC_KEYS
    for case, row in zip(summary["metric_per_case"], ROWS, strict=True):
        assert set(case) == CASE_KEYS and set(case["metrics"]) == {"1"}
        assert set(case["metrics"]["1"]) == METRIC_KEYS
        assert case["prediction_file"] == case["reference_file"] == f"{row['case']}.nii.gz"
    first = summary["metric_per_case"][0]["metrics"]["1"]
    assert first == {"Dice": 2 * 30 / (60 + 30), "IoU": 30 / 60, "FP": 10, "TP": 30, "FN": 20,
                     "TN": 940, "n_pred": 40, "n_ref": 50}
    assert math.isnan(summary["metric_per_case"][1]["metrics"]["1"]["Dice"])  # as nnU-Net
    mean = summary["mean"]["1"]
    assert mean["Dice"] == pytest.approx((60 / 90 + 10 / 15) / 2)  # NaN left out
    assert mean["TP"] == pytest.approx(35 / 3)
    assert summary["foreground_mean"] == mean


@pytest.mark.parametrize("drop", ["mean", "metric_per_case.reference_file",
                                  "metric_per_case.metrics.TN"])
def test_a_summary_missing_a_key_is_refused(drop: str) -> None:
    summary = nnunet_summary(ROWS)
    if drop == "mean":
        del summary["mean"]
    elif drop.endswith("reference_file"):
        del summary["metric_per_case"][1]["reference_file"]
    else:
        del summary["metric_per_case"][2]["metrics"]["1"]["TN"]
    with pytest.raises(ValueError, match="summary.json"):
        check_summary(summary)


def test_auto3dseg_datalist_gives_each_case_its_test_fold(tmp_path: Path) -> None:
    refs = [CaseRef(f"c{i}", tmp_path / f"c{i}/dicom", tmp_path / f"c{i}/lesion.nii.gz")
            for i in range(3)]
    external = [CaseRef("e0", Path("/elsewhere/e0_0000.nii.gz"), None)]
    datalist = auto3dseg_datalist(refs, {"c0": 1, "c1": 0, "c2": 1}, root=tmp_path,
                                  test_refs=external)
    assert datalist == {
        "training": [{"image": "c0/dicom", "label": "c0/lesion.nii.gz", "fold": 1},
                     {"image": "c1/dicom", "label": "c1/lesion.nii.gz", "fold": 0},
                     {"image": "c2/dicom", "label": "c2/lesion.nii.gz", "fold": 1}],
        "testing": [{"image": "/elsewhere/e0_0000.nii.gz"}]}

"""platform/report/strata.py: metrics per lesion-size stratum, volumes read back from the
per-patient rows (issue 27; Metrics Reloaded's per-case view for small structures)."""

from __future__ import annotations

import csv
import io
import math
import statistics

import pytest

from platform.report.strata import lesion_strata, reference_volumes

VOXEL_ML = 0.4 * 0.45 * 0.45 / 1000
SIZES = {f"case-{i}": n for i, n in enumerate((100, 200, 300, 1000, 2000, 3000, 9000, 9500,
                                               10000))}


def _row(case: str, *, fp: int, fn: int) -> dict[str, object]:
    truth = SIZES.get(case, 0)
    return {"case": case, "tp": float(truth - fn), "fn": float(fn), "fp": float(fp),
            "abs_volume_diff_ml": abs(fp - fn) * VOXEL_ML}


def test_volumes_in_ml_are_read_back_from_the_volume_difference() -> None:
    rows = [_row(c, fp=0, fn=0) for c in SIZES] + [_row(c, fp=10, fn=3) for c in SIZES]
    volumes, unit = reference_volumes(rows)
    assert unit == "ml"
    for case, voxels in SIZES.items():
        assert volumes[case] == pytest.approx(voxels * VOXEL_ML, rel=1e-12)
    # Only fp == fn rows: a voxel's volume cannot be known, the volumes stay in voxels.
    voxels, unit = reference_volumes([_row(c, fp=2, fn=2) for c in SIZES])
    assert unit == "voxels" and voxels == {c: float(n) for c, n in SIZES.items()}
    assert reference_volumes([{"case": "case-0", "dice": 0.5}]) == ({}, "")


def test_tertiles_hold_a_third_of_the_patients_each_with_their_summaries() -> None:
    volumes = {c: n * VOXEL_ML for c, n in SIZES.items()}
    dice = {"a": {c: 0.1 * i for i, c in enumerate(SIZES)},
            "b": {c: 0.5 for c in SIZES}}
    strata = lesion_strata({"dice": dice}, volumes, "ml", ["a", "b"], 3)
    assert [s.cases for s in strata.strata] == [
        ("case-0", "case-1", "case-2"), ("case-3", "case-4", "case-5"),
        ("case-6", "case-7", "case-8")]
    assert [s.label.split(" ")[0] for s in strata.strata] == ["small", "medium", "large"]
    assert strata.metrics == ("dice",)  # no lesion-wise metrics in these rows
    small = strata.cells["a"][strata.strata[0].label]["dice"]
    assert (small.n, small.mean) == (3, pytest.approx(0.1))
    assert small.sd == pytest.approx(statistics.stdev([0.0, 0.1, 0.2]))
    rows = list(csv.DictReader(io.StringIO(strata.to_csv())))
    assert len(rows) == 6 and rows[0]["variant"] == "a" and rows[0]["n_patients"] == "3"
    assert float(rows[5]["dice_mean"]) == 0.5 and math.isinf(float(rows[2]["high_ml"]))
    markdown = strata.to_markdown()
    assert markdown.startswith("| Variant | small (") and "(n=3)" in markdown


def test_lesion_wise_metrics_patients_without_lesion_and_one_stratum() -> None:
    volumes = {"case-0": 0.0, "case-1": 1.0, "case-2": 2.0, "case-3": 3.0}
    values = {"dice": {"a": dict.fromkeys(volumes, 0.5)},
              "lesion_f1": {"a": dict.fromkeys(volumes, 1.0)},
              "lesion_detection_rate": {"a": {"case-1": 0.0}}}
    strata = lesion_strata(values, volumes, "ml", ["a"], 2)
    assert strata.metrics == ("dice", "lesion_f1", "lesion_detection_rate")
    assert strata.strata[0].label == "no lesion" and strata.strata[0].cases == ("case-0",)
    assert [len(s.cases) for s in strata.strata] == [1, 1, 2]  # edges 1, 2, 3 ml
    empty = strata.cells["a"][strata.strata[0].label]["lesion_detection_rate"]
    assert empty.n == 0 and "-" in strata.rows()[0]
    assert lesion_strata(values, volumes, "ml", ["a"], 1) is None
    assert lesion_strata(values, {}, "", ["a"], 3) is None

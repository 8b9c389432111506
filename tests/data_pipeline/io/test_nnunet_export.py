"""Tests for data_pipeline/io/nnunet_export.py: a cohort written as an nnU-Net v2 raw dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.io.nnunet_export import main as export_main
from data_pipeline.io.nnunet_export import write_nnunet_dataset


def test_layout_and_dataset_json_follow_nnunet_v2(dataset: Path) -> None:
    meta = json.loads((dataset / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT"} and meta["numTraining"] == 2
    assert meta["labels"] == {"background": 0, "lesion": 1} and meta["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (dataset / "imagesTr").iterdir()) == [
        "case-000_0000.nii.gz", "case-001_0000.nii.gz"]
    assert sorted(p.name for p in (dataset / "labelsTr").iterdir()) == [
        "case-000.nii.gz", "case-001.nii.gz"]
    refs = load_cohort(dataset)
    assert [(r.key, r.image.name, r.mask_path.name, r.label) for r in refs] == [
        ("case-000", "case-000_0000.nii.gz", "case-000.nii.gz", 1),
        ("case-001", "case-001_0000.nii.gz", "case-001.nii.gz", 1)]


def test_export_refuses_a_case_in_train_and_test(tiny_cohort: Path, tmp_path: Path) -> None:
    refs = load_cohort(tiny_cohort)
    with pytest.raises(ValueError, match=r"cases \['case-000'\] are in both"):
        write_nnunet_dataset(tmp_path, refs[:1], refs[:1])
    assert export_main([str(tmp_path / "absent"), str(tmp_path / "out")]) == 2

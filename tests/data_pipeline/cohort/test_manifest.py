"""Tests for data_pipeline/cohort/manifest.py: YAML and CSV manifests, folder layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from data_pipeline.cohort.cohort import CaseRef, load_case, load_cohort
from data_pipeline.cohort.manifest import CohortError
from data_pipeline.errors import DataError


def test_manifest_and_folder_forms_give_the_same_cases(tiny_cohort: Path) -> None:
    refs = load_cohort(tiny_cohort)
    assert [r.key for r in refs] == ["case-000", "case-001", "case-002"]
    root = tiny_cohort.parent
    assert refs[0] == CaseRef("case-000", root / "case-000/dicom", root / "case-000/lesion.nii.gz")
    assert load_cohort(root) == refs  # folder holding cohort.yaml
    assert all(r.dicom_dir.is_dir() and r.mask_path.is_file() for r in refs)  # type: ignore[union-attr]


def test_folder_layout_without_manifest(tiny_cohort: Path, tmp_path: Path) -> None:
    for key in ("case-000", "case-001"):
        shutil.copytree(tiny_cohort.parent / key, tmp_path / key)
    refs = load_cohort(tmp_path)
    assert [(r.key, r.dicom_dir.name, r.mask_path.name) for r in refs] == [  # type: ignore[union-attr]
        ("case-000", "dicom", "lesion.nii.gz"),
        ("case-001", "dicom", "lesion.nii.gz"),
    ]
    shutil.copy(tmp_path / "case-001/lesion.nii.gz", tmp_path / "case-001/other.nrrd")
    with pytest.raises(CohortError, match="case folder 2 of 2 .*: 2 mask files"):
        load_cohort(tmp_path)


def test_csv_manifest_with_label_and_series(tiny_cohort: Path, tmp_path: Path) -> None:
    root = tiny_cohort.parent
    (tmp_path / "cohort.csv").write_text(
        "key,dicom,mask,series_uid,label\n"
        f"a,{root}/case-000/dicom,{root}/case-000/lesion.nii.gz,,1\n"
        f"b,{root}/case-001/dicom,,,\n"
    )
    a, b = load_cohort(tmp_path / "cohort.csv")
    assert (a.key, a.label, a.series_uid, b.mask_path) == ("a", 1, None, None)
    with pytest.raises(DataError, match="case b: no lesion mask"):
        load_case(b)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"version": 2, "cases": [{"key": "a", "dicom": "d"}]}, "version: Input should be 1"),
        (
            {"version": 1, "cases": [{"key": "a", "dicom": "d"}, {"key": "b"}]},
            "cases[1] (row 2, key 'b'): give the CT as 'dicom' (a DICOM series folder) or as "
            "'image'",
        ),
        (
            {"version": 1, "cases": [{"key": "a b", "dicom": "d"}]},
            "cases[0] (row 1, key 'a b').key: String should match pattern",
        ),
        (
            {"version": 1, "cases": [{"key": "a", "dicom": "d", "maks": "m"}]},
            "cases[0] (row 1, key 'a').maks: Extra inputs are not permitted",
        ),
        ({"version": 1, "cases": []}, "cases: List should have at least 1 item"),
    ],
    ids=["version", "missing-field", "bad-key", "typo", "no-cases"],
)
def test_invalid_manifest_names_row_and_field(
    tmp_path: Path, document: dict, expected: str
) -> None:
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(CohortError) as info:
        load_cohort(tmp_path)
    assert "cohort.yaml: invalid manifest" in str(info.value)
    assert expected in str(info.value)


def test_an_nnunet_raw_root_is_refused_naming_its_datasets(tmp_path: Path) -> None:
    """Issue 23: ``data.cohort`` at an ``nnUNet_raw`` root got a DICOM-layout error."""
    for name in ("Dataset501_Stroke", "Dataset502_Other"):
        (tmp_path / name / "imagesTr").mkdir(parents=True)
        (tmp_path / name / "dataset.json").write_text("{}")
    with pytest.raises(CohortError, match="nnU-Net raw folder holding 2 datasets; point "
                       "data.cohort at one DatasetXXX_ folder: .*Dataset501_Stroke"):
        load_cohort(tmp_path)

"""Tests of data_pipeline/cohort/cohort.py (and the keyed hash of cohort/pseudonym.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from data_pipeline.cohort.cohort import (
    Case,
    CaseRef,
    CohortError,
    case_key_from_patient_id,
    load_case,
    load_cases,
    load_cohort,
)
from data_pipeline.cohort.pseudonym import SALT_ENV, SALT_FILE_ENV, SaltError, load_salt
from data_pipeline.errors import DataError
from tests.data_pipeline.conftest import (
    BROKEN_CASES,
    FAKE_PHI,
    SERIES_GEOMETRY,
    ramp_volume,
    write_series,
)

SALT = bytes.fromhex("00112233445566778899aabbccddeeff")


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


def test_duplicate_keys_are_refused(tiny_cohort: Path, tmp_path: Path) -> None:
    rows = [
        {"key": "x", "dicom": str(tiny_cohort.parent / c / "dicom")}
        for c in ("case-000", "case-001")
    ]
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump({"version": 1, "cases": rows}))
    with pytest.raises(CohortError, match="rows 1 and 2 have the same case key 'x'"):
        load_cohort(tmp_path)


def test_key_that_names_the_patient_is_refused_without_printing_it(tmp_path: Path) -> None:
    folder = tmp_path / FAKE_PHI["PatientID"]
    write_series(folder / "dicom", ramp_volume((3, 8, 8)))
    with pytest.raises(CohortError) as info:
        load_cohort(tmp_path)
    assert "rows [1]: the case key repeats the patient's DICOM PatientID or name" in str(info.value)
    assert FAKE_PHI["PatientID"] not in str(info.value)


def test_patient_id_keys_are_keyed_hashes(
    tiny_cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SALT_ENV, SALT.hex())
    monkeypatch.delenv(SALT_FILE_ENV, raising=False)
    keys = [r.key for r in load_cohort(tiny_cohort, keys="patient_id")]
    assert all(k.startswith("p-") and len(k) == 14 for k in keys) and len(set(keys)) == 3
    other = [r.key for r in load_cohort(tiny_cohort, keys="patient_id", salt=b"another salt 1234")]
    assert set(keys).isdisjoint(other)
    assert case_key_from_patient_id(" MRN1 ", SALT) == case_key_from_patient_id("MRN1", SALT)


def test_salt_sources_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.delenv(SALT_FILE_ENV, raising=False)
    with pytest.raises(SaltError, match="no cohort salt: neither STROKE_COHORT_SALT_FILE"):
        load_salt()
    outside = tmp_path / "secrets" / "cohort.salt"
    outside.parent.mkdir()
    outside.write_text(SALT.hex() + "\n")
    monkeypatch.setenv(SALT_FILE_ENV, str(outside))
    assert load_salt() == SALT
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    inside = tmp_path / "repo" / "cohort.salt"
    inside.write_text(SALT.hex())
    with pytest.raises(SaltError, match="inside the git work tree"):
        load_salt(inside)
    outside.write_text("short")
    with pytest.raises(SaltError, match="the salt has 5 bytes, expected at least 16"):
        load_salt()


def test_load_case_gives_hu_and_lesion_on_one_grid(tiny_cohort: Path) -> None:
    ref = load_cohort(tiny_cohort)[1]
    case = load_case(ref)
    assert isinstance(case, Case) and case.key == "case-001"
    assert case.hu.dtype == np.float32 and case.lesion.dtype == np.uint8
    assert case.hu.shape == case.lesion.shape == (48, 48, 48)
    mask = sitk.ReadImage(str(ref.mask_path))
    np.testing.assert_array_equal(case.lesion, sitk.GetArrayFromImage(mask) > 0)
    assert case.geometry.mismatch(SERIES_GEOMETRY.from_sitk(mask)) is None
    assert case.lesion.sum() > 0 and -1100 < case.hu.min() < case.hu.max() < 3000


def test_bad_cases_are_listed_and_the_others_still_load(broken_cohort: Path) -> None:
    good, bad = load_cases(load_cohort(broken_cohort), progress=False)
    assert [c.key for c in good] == ["case-000"]
    assert sorted(bad) == sorted(BROKEN_CASES)
    for key, phrase in BROKEN_CASES.items():
        assert phrase in bad[key], (key, bad[key])

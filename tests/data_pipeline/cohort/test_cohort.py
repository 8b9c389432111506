"""Tests of data_pipeline/cohort/cohort.py (and the keyed hash of cohort/pseudonym.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from data_pipeline.cohort.cohort import (
    Case,
    CohortError,
    case_key_from_patient_id,
    check_cohort_headers,
    load_case,
    load_cases,
    load_cohort,
)
from data_pipeline.cohort.pseudonym import SALT_ENV, SALT_FILE_ENV
from tests.data_pipeline.conftest import (
    BROKEN_CASES,
    FAKE_PHI,
    SERIES_GEOMETRY,
    ramp_volume,
    write_series,
)

SALT = bytes.fromhex("00112233445566778899aabbccddeeff")


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


def test_headers_find_the_header_problems_in_loads_words(broken_cohort: Path) -> None:
    """Issue 28: ``--dry-run`` and the pre-flight read headers only; what headers show is
    found with the words ``load_cases`` (and ``inspect``) use."""
    refs = load_cohort(broken_cohort)
    problems, notes = check_cohort_headers(refs)
    _, loaded = load_cases(refs, progress=False)
    needs_pixels = {"not-hu", "all-zero", "empty-mask", "other-scan-mask"}
    assert sorted(problems) == sorted(set(BROKEN_CASES) - needs_pixels)
    assert problems == {key: loaded[key] for key in problems}
    assert notes == {}

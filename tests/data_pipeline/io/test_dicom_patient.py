"""Tests for data_pipeline/io/dicom_patient.py: the keyed pseudonym, keys naming the patient."""

from __future__ import annotations

from pathlib import Path

from data_pipeline.cohort.pseudonym import case_key_from_patient_id
from data_pipeline.io.dicom_patient import key_names_patient, patient_key
from tests.data_pipeline.conftest import FAKE_PHI, ramp_volume, write_series

SALT = b"0123456789abcdef-test-salt"


def test_patient_key_and_key_names_patient(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    key = patient_key(tmp_path, salt=SALT)
    assert key == case_key_from_patient_id(FAKE_PHI["PatientID"], SALT)
    assert key.startswith("p-") and len(key) == 14
    assert key_names_patient(tmp_path, FAKE_PHI["PatientID"].lower())
    assert key_names_patient(tmp_path, "adelheid-01")
    assert not key_names_patient(tmp_path, "case-001")
    assert not key_names_patient(tmp_path / "missing", "case-001")

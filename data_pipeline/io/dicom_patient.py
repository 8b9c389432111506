"""The patient behind a DICOM folder, without letting the identifier out.

Why apart from reading the series: the PatientID and PatientName are read here only to
derive a case's pseudonymous key (a keyed hash, :mod:`data_pipeline.cohort.pseudonym`)
and to refuse a given key that repeats them; neither value leaves this module.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from data_pipeline.cohort.pseudonym import case_key_from_patient_id
from data_pipeline.errors import DataError
from data_pipeline.io.dicom_headers import list_files, quiet_pydicom

__all__ = ["key_names_patient", "patient_key"]

logger = logging.getLogger(__name__)


def _first_header(folder: Path, case_key: str, tags: list[str]) -> pydicom.Dataset:
    for i, path in enumerate(files := list_files(Path(folder), case_key)):
        try:
            return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            logger.debug(
                "case %s: file %d of %d unreadable, trying the next", case_key, i + 1, len(files)
            )
    raise DataError(case_key, "no readable DICOM file in the folder")


def patient_key(folder: Path, *, salt: bytes, case_key: str = "(unnamed)") -> str:
    """Derive the pseudonymous key of a DICOM folder from its PatientID (keyed hash).

    The PatientID is read here and never returned: only its HMAC leaves this module.

    Args:
        folder: a DICOM folder of one patient.
        salt: the cohort's secret salt (see ``data_pipeline.cohort.pseudonym.load_salt``).
        case_key: a placeholder name for the error messages (e.g. ``row 3``).

    Raises:
        DataError: no readable DICOM file, or no PatientID in it.
    """
    with quiet_pydicom():
        patient_id = str(_first_header(folder, case_key, ["PatientID"]).get("PatientID", ""))
    if not patient_id.strip():
        raise DataError(case_key, "the DICOM files have no PatientID to derive a key from")
    return case_key_from_patient_id(patient_id, salt)


def key_names_patient(folder: Path, key: str) -> bool:
    """Whether ``key`` repeats the PatientID or a PatientName part of the folder's files.

    Used by the cohort loader to refuse a case key that would put an identifier into
    every log line. A folder that cannot be read answers False (the loader reports it
    later, under its key).
    """
    try:
        with quiet_pydicom():
            ds = _first_header(folder, key, ["PatientID", "PatientName"])
    except DataError:
        return False
    needle = key.strip().lower()
    found = [str(ds.get("PatientID", ""))]
    found += [str(p) for p in str(ds.get("PatientName", "")).replace("^", " ").split()]
    return any(len(v) >= 3 and v.strip().lower() in needle for v in found)

"""Refuse DICOM identifiers before anything reaches the experiment tracker.

Why: an MLflow store is shared, copied and shown in a web UI, so nothing in it may point
to a person. The pseudonymous case key (``case-000`` or a keyed hash, see
``docs/ARCHITECTURE.md``) is the only patient reference allowed in params, tags, metrics
and artifacts. This guard catches the likely slip, a key such as ``PatientName`` or
``patient_id`` copied from DICOM headers into a config or a per-patient row, and a value
that is a DICOM UID. It cannot recognise a name hidden in free text (a path, a note), so
such text must not be built from DICOM headers in the first place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["IDENTIFIER_KEYWORDS", "check_no_identifiers"]

#: DICOM keywords (PS3.15 Annex E basic profile) that identify a patient, a visit or a
#: site. Matching ignores case, underscores, dashes, spaces and apostrophes, so
#: ``patient_id``, ``Patient ID`` and ``PATIENTID`` all count as ``PatientID``.
IDENTIFIER_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "OtherPatientIDs",
    "OtherPatientNames", "OtherPatientIDsSequence", "IssuerOfPatientID",
    "MedicalRecordLocator", "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "PhysiciansOfRecord", "RequestingPhysician", "OperatorsName", "StationName",
    "DeviceSerialNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
)

_NORMALISED = {re.sub(r"[^a-z0-9]", "", k.lower()): k for k in IDENTIFIER_KEYWORDS}
# Older DICOM spelled several of these with a possessive ("Patient's Name").
_NORMALISED.update({"patientsname": "PatientName", "patientsbirthdate": "PatientBirthDate",
                    "patientsaddress": "PatientAddress"})
# A DICOM UID: digits in dot-separated components, root 1.x or 2.x, at least six parts
# (version strings such as 2.13.0 and IPv4 addresses have fewer).
_UID = re.compile(r"^[12](\.\d+){5,}$")
_KEY_SEPARATORS = re.compile(r"[./]")


def check_no_identifiers(mapping: Mapping[str, Any], *, what: str = "mapping") -> None:
    """Raise ``ValueError`` if ``mapping`` holds a DICOM identifier key or a UID value.

    Nested mappings and lists are searched, and dotted keys (``data.patient_id``) are
    checked segment by segment, so the guard works both before and after flattening.
    The message names the key path only, never the value, so the error itself cannot
    leak what it caught.

    Args:
        mapping: params, tags, metrics or one per-patient row about to be logged.
        what: a short description for the message (``"params"``, ``"tags"``...).

    Raises:
        ValueError: a key names a DICOM identifier, or a string value is a DICOM UID.
    """
    for path, key, value in _walk(mapping, ""):
        for segment in _KEY_SEPARATORS.split(str(key)):
            keyword = _NORMALISED.get(re.sub(r"[^a-z0-9]", "", segment.lower()))
            if keyword is not None:
                raise ValueError(
                    f"refusing to log {what}: key {path!r} names the DICOM identifier "
                    f"{keyword}. Only the pseudonymous case key may refer to a patient; "
                    "drop this field before logging (the value was not logged)."
                )
        if isinstance(value, str) and _UID.match(value.strip()):
            raise ValueError(
                f"refusing to log {what}: the value of {path!r} is a DICOM UID. UIDs can be "
                "traced back to a study; log the case key instead (the value was not logged)."
            )


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(path, key, value)`` for every key of every mapping nested in ``node``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, key, value
            yield from _walk(value, path)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            path = f"{prefix}[{index}]"
            if isinstance(item, (Mapping, list, tuple)):
                yield from _walk(item, path)
            else:
                yield path, "", item

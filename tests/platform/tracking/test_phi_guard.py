"""platform.tracking.phi_guard: DICOM identifiers never reach the experiment tracker."""

from __future__ import annotations

from typing import Any

import pytest

from platform.tracking.phi_guard import IDENTIFIER_KEYWORDS, check_no_identifiers

SECRET = "DOE^JANE"


@pytest.mark.parametrize(
    "mapping",
    [
        {"PatientName": SECRET},
        {"patient_name": SECRET},
        {"Patient's Name": SECRET},
        {"PATIENTID": SECRET},
        {"accession-number": SECRET},
        {"data.PatientBirthDate": SECRET},  # a flattened key
        {"data": {"source": {"InstitutionName": SECRET}}},  # nested
        {"cases": [{"key": "case-001"}, {"study_date": SECRET}]},  # inside a list
    ],
)
def test_identifier_keys_are_refused_without_echoing_the_value(mapping: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="DICOM identifier") as caught:
        check_no_identifiers(mapping, what="params")
    assert SECRET not in str(caught.value)
    assert "refusing to log params" in str(caught.value)


@pytest.mark.parametrize("keyword", IDENTIFIER_KEYWORDS)
def test_every_listed_keyword_is_refused(keyword: str) -> None:
    with pytest.raises(ValueError, match=keyword):
        check_no_identifiers({keyword: "x"})


def test_uid_values_are_refused() -> None:
    uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    for mapping in ({"series": uid}, {"inputs": ["case-001", uid]}):
        with pytest.raises(ValueError, match="DICOM UID") as caught:
            check_no_identifiers(mapping)
        assert uid not in str(caught.value)


def test_ordinary_keys_and_values_pass() -> None:
    check_no_identifiers({
        "case": "case-001", "patient_count": 42, "patients_per_fold": 8,
        "study": "ablation", "torch_version": "2.13.0", "host": "127.0.0.1",
        "model": {"name": "unet3d", "channels": [16, 32]}, "dice": 0.5,
    })

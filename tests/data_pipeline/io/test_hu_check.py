"""A CT that is not in Hounsfield units is refused with the case named and the likely cause."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.errors import DataError
from data_pipeline.io.hu_check import check_hounsfield


def _head(rng: np.random.Generator) -> np.ndarray:
    """Air around a soft-tissue ball inside a bone shell: a head CT in HU."""
    z, y, x = np.mgrid[:12, :16, :16]
    radius = np.sqrt((z - 6) ** 2 + (y - 8) ** 2 + (x - 8) ** 2)
    hu = np.where(radius < 5, 35.0, np.where(radius < 6.5, 1200.0, -1000.0))
    return (hu + rng.normal(0, 5, hu.shape)).astype(np.float32)


def test_a_head_ct_in_hu_passes() -> None:
    check_hounsfield(_head(np.random.default_rng(0)), case_key="case-001", source="ct.nii.gz")


@pytest.mark.parametrize(
    ("convert", "cause"),
    [
        (lambda hu: (hu - hu.min()) / (hu.max() - hu.min()), "normalised"),
        (lambda hu: (hu - hu.mean()) / hu.std(), "normalised"),
        (lambda hu: hu + 1024.0, "without the rescale intercept"),
        (lambda hu: np.clip(hu, 0.0, 80.0), "soft-tissue window"),
        (lambda hu: np.clip(hu, -100.0, 200.0), "soft-tissue window"),
    ],
    ids=["minmax", "zscore", "stored-values", "windowed-0-80", "windowed-wide"],
)
def test_a_volume_not_in_hu_is_refused_naming_case_and_cause(convert, cause: str) -> None:
    volume = convert(_head(np.random.default_rng(0)))
    with pytest.raises(DataError) as info:
        check_hounsfield(volume, case_key="case-007", source="nifti CT c7_0000.nii.gz")
    assert info.value.case_key == "case-007"
    message = str(info.value)
    assert message.startswith("case case-007: nifti CT c7_0000.nii.gz is not in Hounsfield units")
    assert cause in message


def test_non_finite_values_are_refused() -> None:
    volume = _head(np.random.default_rng(0))
    volume[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="case case-002: .* NaN or infinite"):
        check_hounsfield(volume, case_key="case-002", source="ct.mha")

"""Tests for data_pipeline/io/dicom_headers.py: non-DICOM, truncated and missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.io.dicom import read_series
from tests.data_pipeline.conftest import ramp_volume, read_error, write_series


def test_a_non_dicom_file_is_ignored_and_named_in_a_note(tmp_path: Path) -> None:
    """Issue 28: only files without the DICOM marker are ignored, counted and named."""
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    (tmp_path / "IM0001a.txt").write_text("hello, not DICOM")
    volume = read_series(tmp_path, case_key="case-x")
    assert volume.hu.shape == (3, 8, 8)
    assert "ignored 1 non-DICOM file(s): IM0001a.txt" in volume.notes


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (200, "its header ends before the pixel data"),
        (700, "its header ends before the pixel"),
        (-10, "its pixel data hold 502 of 512 bytes"),
    ],
    ids=["in-file-meta", "in-header", "in-pixels"],
)
def test_truncated_file(tmp_path: Path, cut: int, expected: str) -> None:
    paths = write_series(tmp_path, ramp_volume((4, 16, 16)))
    paths[2].write_bytes(paths[2].read_bytes()[:cut])
    position = sorted(tmp_path.iterdir()).index(paths[2]) + 1
    message = read_error(tmp_path)
    assert f"file {position} of 4 in the folder (sorted by name) is truncated" in message
    assert message.startswith(f"case case-x: {paths[2].name}: file {position}")  # its name
    assert expected in message


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    assert "DICOM folder not found" in read_error(tmp_path / "nope")
    assert "holds no files" in read_error(tmp_path)


def test_a_slice_of_another_patient_in_the_series_is_refused_without_showing_it(
        tmp_path: Path) -> None:
    """Issue 28: same series UID, one slice with another PatientID and PatientName."""
    import pydicom

    paths = write_series(tmp_path, ramp_volume((5, 8, 8)))
    odd = pydicom.dcmread(paths[3])
    odd.PatientID, odd.PatientName = "OTHER-PID-31337", "Otherperson^Bruno"
    odd.save_as(paths[3])
    position = sorted(tmp_path.iterdir()).index(paths[3]) + 1
    message = read_error(tmp_path)  # also checks that no identifier is in it
    assert f"the slices disagree on the patient: 1 of 5 files (file {position}," in message
    assert "OTHER-PID" not in message and "Otherperson" not in message

"""Tests for data_pipeline/io/dicom_headers.py: non-DICOM, truncated and missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data_pipeline.conftest import ramp_volume, read_error, write_series


def test_not_dicom_file(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    (tmp_path / "IM0001a.txt").write_text("hello, not DICOM")
    message = read_error(tmp_path)
    assert "file 3 of 4 in the folder (sorted by name) is not a DICOM file" in message


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
    assert expected in message


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    assert "DICOM folder not found" in read_error(tmp_path / "nope")
    assert "holds no files" in read_error(tmp_path)

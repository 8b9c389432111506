"""Tests for data_pipeline/io/series_layout.py: slice order, gaps, tilt, mixed slices
(series choice: test_series_choice.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from tests.data_pipeline.conftest import ramp_volume, read_error, write_series


def test_missing_slice(tmp_path: Path) -> None:
    paths = write_series(tmp_path, ramp_volume((6, 8, 8)))
    paths[3].unlink()
    message = read_error(tmp_path)
    assert "missing slice: 1 slice(s) missing between slice 3 of 5" in message


def test_uneven_spacing(tmp_path: Path) -> None:
    positions = np.array([[0, 0, z] for z in (0.0, 2.0, 4.0, 5.3, 7.3)])
    write_series(tmp_path, ramp_volume((5, 8, 8)), positions=positions)
    assert "uneven slice spacing: 1.300 mm after slice 3 of 5" in read_error(tmp_path)


def test_mixed_series_duplicate_positions(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, ramp_volume((4, 8, 8)), series_uid=uid, prefix="a")
    write_series(tmp_path, ramp_volume((4, 8, 8), seed=1), series_uid=uid, prefix="b")
    assert "mixed series: 5 slices share a position" in read_error(tmp_path)


def test_mixed_series_image_size(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, ramp_volume((4, 8, 8)), series_uid=uid, prefix="a")
    write_series(
        tmp_path, ramp_volume((1, 6, 6)), series_uid=uid, prefix="b", origin=(-20.0, -25.0, 18.0)
    )
    assert "mixed series: 1 of 5 slices differ in image size" in read_error(tmp_path)


def test_multi_frame_files_are_refused(tmp_path: Path) -> None:
    for path in write_series(tmp_path, ramp_volume((3, 8, 8))):
        ds = pydicom.dcmread(path)
        ds.NumberOfFrames, ds.PixelData = 2, ds.PixelData * 2
        ds.save_as(path)
    assert "unsupported pixel format: 1 sample(s) per pixel, 2 frame(s)" in read_error(tmp_path)


def test_gantry_tilt_is_refused(tmp_path: Path) -> None:
    z = np.arange(5) * 2.0
    positions = np.stack([np.zeros(5), z * np.tan(np.deg2rad(15)), z], axis=1)
    write_series(tmp_path, ramp_volume((5, 8, 8)), positions=positions)
    assert "gantry tilt of about 15.0 degrees" in read_error(tmp_path)


def test_single_slice_is_not_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((1, 8, 8)))
    assert "the series has 1 slice(s)" in read_error(tmp_path)

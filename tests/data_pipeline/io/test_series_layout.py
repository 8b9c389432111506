"""Tests for data_pipeline/io/series_layout.py: series choice, slice order, gaps, tilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from data_pipeline.io.dicom import read_series
from tests.data_pipeline.conftest import assert_private, ramp_volume, read_error, write_series


def test_largest_ct_series_is_chosen_and_localizer_and_others_ignored(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((5, 8, 8)), prefix="a", series_number=2)
    write_series(tmp_path, ramp_volume((3, 8, 8)), prefix="b", series_number=3)
    write_series(tmp_path, ramp_volume((9, 8, 8)), prefix="c", modality="MR")
    scout = write_series(tmp_path, ramp_volume((1, 8, 8)), prefix="d")[0]
    ds = pydicom.dcmread(scout)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(scout)
    (tmp_path / "DICOMDIR").write_bytes(b"skipped by name")
    volume = read_series(tmp_path, case_key="c7")
    assert volume.hu.shape == (5, 8, 8)
    note = volume.notes[0]
    assert "folder holds 4 series" in note and "series #1 (5 slices)" in note
    assert_private(note)


def test_series_uid_selects_and_unknown_uid_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((5, 8, 8)), prefix="a")
    uid = generate_uid()
    write_series(tmp_path, ramp_volume((3, 8, 8)), prefix="b", series_uid=uid)
    assert read_series(tmp_path, case_key="c8", series_uid=uid).hu.shape == (3, 8, 8)
    assert "no series with the requested series_uid" in read_error(tmp_path, series_uid="1.2.3.4")


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


def test_mixed_series_tie_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((4, 8, 8)), prefix="a", series_number=7)
    write_series(tmp_path, ramp_volume((4, 8, 8)), prefix="b", series_number=8)
    message = read_error(tmp_path)
    assert "mixed series: 2 CT series have 4 slices each" in message
    assert "SeriesNumber 7" in message and "series_uid" in message


def test_non_ct_modality(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((4, 8, 8)), modality="MR")
    assert "non-CT modality: no CT images in the folder (series #1: MR (4 images))" in read_error(
        tmp_path
    )
    other = tmp_path / "pydicom-mr"
    other.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), other / "mr.dcm")
    assert "non-CT modality" in read_error(other)


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

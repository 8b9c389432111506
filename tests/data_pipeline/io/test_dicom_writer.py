"""Tests for data_pipeline/io/dicom_writer.py: a series that the reader takes back exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from data_pipeline.io.dicom import read_series
from data_pipeline.io.dicom_writer import derived_uid, write_ct_series
from data_pipeline.io.geometry import Geometry

GRID = Geometry(spacing=(0.5, 0.45, 0.45), origin=(-7.2, 3.1, -80.0))
HEADER = {"PatientID": "MRN12345678", "StudyDate": "20240101", "SliceThickness": 1.0}


def _volume(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1024, 3072, size=(6, 10, 8), dtype=np.int16)


def test_written_series_reads_back_as_the_volume_on_its_grid(tmp_path: Path) -> None:
    hu = _volume()
    names = [f"{n:03d}.dcm" for n in (5, 3, 0, 4, 1, 2)]  # shuffled: order is by position
    write_ct_series(tmp_path, hu, GRID, HEADER, names, uid_entropy=["test", "0"])
    volume = read_series(tmp_path, case_key="w1")
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))
    assert volume.geometry.mismatch(GRID) is None
    ds = pydicom.dcmread(tmp_path / names[2])
    assert (ds.PatientID, ds.StudyDate) == ("MRN12345678", "20240101")
    assert float(ds.SliceThickness) == 1.0
    assert (ds.Modality, int(ds.InstanceNumber), float(ds.SliceLocation)) == ("CT", 3, -79.0)
    assert (int(ds.BitsStored), float(ds.RescaleIntercept)) == (12, -1024.0)


def test_values_outside_12_bits_are_clipped(tmp_path: Path) -> None:
    hu = np.full((2, 4, 4), 5000, dtype=np.int16)
    hu[1] = -2000
    write_ct_series(tmp_path, hu, GRID, {}, ["a.dcm", "b.dcm"], uid_entropy=["clip"])
    np.testing.assert_array_equal(read_series(tmp_path, case_key="w2").hu[:, 0, 0], [3071, -1024])


def test_same_arguments_same_bytes_and_uids_follow_the_entropy(tmp_path: Path) -> None:
    names = [f"{k}.dcm" for k in range(6)]
    for folder, entropy in (("a", ["x"]), ("b", ["x"]), ("c", ["y"])):
        (tmp_path / folder).mkdir()
        write_ct_series(tmp_path / folder, _volume(), GRID, HEADER, names, uid_entropy=entropy)
    read = {f: [(tmp_path / f / n).read_bytes() for n in names] for f in "abc"}
    assert read["a"] == read["b"] and read["a"] != read["c"]
    assert derived_uid(["x", "0"]) == pydicom.dcmread(tmp_path / "a" / "0.dcm").SOPInstanceUID
    assert derived_uid(["x", "0"]) != derived_uid(["x", "1"])


def test_a_tilted_grid_or_a_missing_name_is_refused(tmp_path: Path) -> None:
    sagittal = Geometry(GRID.spacing, GRID.origin, (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="axial"):
        write_ct_series(tmp_path, _volume(), sagittal, {}, list("abcdef"), uid_entropy=["t"])
    with pytest.raises(ValueError, match="5 file names for 6 slices"):
        write_ct_series(tmp_path, _volume(), GRID, {}, list("abcde"), uid_entropy=["t"])
    assert not any(tmp_path.iterdir())

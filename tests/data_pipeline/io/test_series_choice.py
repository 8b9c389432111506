"""Tests for data_pipeline/io/series_choice.py: which series is the CT, and what else a
case folder holds (issue 28: another CT series is refused, the rest reported and counted).

The series are real DICOM files: CT series and a scout written by the project's writer
(``io/dicom_writer.py``), a DICOM SEG by its SEG writer (``io/dicom_seg.py``), pydicom's
own MR test file, and an RT structure set (a DICOM object without pixel data).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from pydicom.data import get_testdata_file

from data_pipeline.io.dicom import check_series, read_series
from data_pipeline.io.dicom_seg import write_dicom_seg
from data_pipeline.io.dicom_writer import derived_uid, write_ct_series
from data_pipeline.io.geometry import Geometry
from tests.data_pipeline.conftest import FAKE_PHI, assert_private, read_error, write_rt_struct

GRID = Geometry(spacing=(2.0, 0.8, 0.8), origin=(-3.2, -3.2, 10.0))
STUDY = {**FAKE_PHI, "StudyInstanceUID": derived_uid(["study"]), "PatientSex": "F",
         "StudyTime": "101500", "StudyID": "1", "ReferringPhysicianName": "",
         "FrameOfReferenceUID": derived_uid(["frame"]), "SliceThickness": GRID.spacing[0]}


def _ct(folder: Path, slices: int, prefix: str, number: int, **header: object) -> str:
    """Write a CT series of ``slices`` 8 x 8 slices named ``<prefix>-00k.dcm``; its UID."""
    uid = derived_uid(["series", prefix])
    hu = np.full((slices, 8, 8), -1000, np.int16)
    hu[:, 2:6, 2:6] = 40
    hu[:, 0, 0] = 1200  # bone: the Hounsfield check sees air and bone
    write_ct_series(folder, hu, GRID, {**STUDY, "SeriesInstanceUID": uid, "SeriesNumber": number,
                                       **header},
                    [f"{prefix}-{k:03d}.dcm" for k in range(slices)], uid_entropy=[prefix])
    return uid


def test_a_second_ct_series_is_refused_with_both_described(tmp_path: Path) -> None:
    """Issue 28: the largest CT series used to be read with a note; a second
    reconstruction is now refused (it may be the one the lesion was drawn on)."""
    _ct(tmp_path, 5, "a", 2)
    chosen = _ct(tmp_path, 3, "b", 3)
    message = read_error(tmp_path)
    assert message == (
        "case case-x: mixed series: the folder holds 2 CT series (series #1: SeriesNumber 2, "
        "5 slices of 8 x 8, e.g. file a-000.dcm; series #2: SeriesNumber 3, 3 slices of 8 x 8, "
        "e.g. file b-000.dcm); keep one CT series per case folder (move the others out), or "
        "set this case's series_uid in the cohort to the SeriesInstanceUID of the one to read")
    # The cohort names the one to read: the other is reported and ignored.
    volume = read_series(tmp_path, case_key="c1", series_uid=chosen)
    assert volume.hu.shape == (3, 8, 8)
    assert volume.notes == ("ignored 5 DICOM file(s) besides the CT series: 5 CT of another "
                            "series (a-000.dcm, a-001.dcm, a-002.dcm, +2 more)",)


def test_scout_seg_rt_struct_and_mr_are_reported_counted_and_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "dicom"
    folder.mkdir()
    _ct(folder, 5, "ct", 2)
    mask = np.zeros((5, 8, 8), np.uint8)
    mask[1:3, 2:5, 2:5] = 1
    write_dicom_seg(mask, folder, tmp_path / "seg.dcm", case_key="c2", algorithm_version="0")
    shutil.move(tmp_path / "seg.dcm", folder / "seg.dcm")
    _ct(folder, 1, "scout", 1, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    write_rt_struct(folder / "rs.dcm", STUDY)
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr.dcm")
    (folder / "notes.txt").write_text("exported by PACS\n")
    volume = read_series(folder, case_key="c2")
    assert volume.hu.shape == (5, 8, 8)
    expected = ("ignored 4 DICOM file(s) besides the CT series: 1 MR (mr.dcm), 1 localizer "
                "(scout-000.dcm), 1 SEG (seg.dcm), 1 RTSTRUCT without an image (rs.dcm)",
                "ignored 1 non-DICOM file(s): notes.txt")
    assert volume.notes == expected
    assert check_series(folder, case_key="c2") == expected  # --dry-run: the same words
    for note in expected:
        assert_private(note)


def test_a_scout_inside_the_ct_series_is_counted(tmp_path: Path) -> None:
    uid = _ct(tmp_path, 4, "ct", 2)
    _ct(tmp_path, 1, "scout", 2, SeriesInstanceUID=uid,
        ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    volume = read_series(tmp_path, case_key="c3")
    assert volume.hu.shape == (4, 8, 8)
    assert volume.notes == ("ignored 1 DICOM file(s) besides the CT series: 1 localizer "
                            "(scout-000.dcm)",)


def test_an_unknown_series_uid_is_refused(tmp_path: Path) -> None:
    _ct(tmp_path, 4, "a", 1)
    assert "no series with the requested series_uid among the folder's 1 series" in read_error(
        tmp_path, series_uid="1.2.3.4")


def test_a_folder_without_ct_is_refused(tmp_path: Path) -> None:
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm")
    write_rt_struct(tmp_path / "rs.dcm", STUDY)
    assert "non-CT modality: no CT images in the folder (series #1: MR (1 images))" in (
        read_error(tmp_path))
    _ct(tmp_path, 1, "scout", 1, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    assert "non-CT modality: no CT images in the folder" in read_error(tmp_path)

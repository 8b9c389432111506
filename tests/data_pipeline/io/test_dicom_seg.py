"""Tests for data_pipeline/io/dicom_seg.py: a predicted mask as a DICOM SEG of its series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from data_pipeline.io.dicom import read_series
from data_pipeline.io.dicom_seg import ALGORITHM_NAME, write_dicom_seg
from data_pipeline.io.labels import read_mask
from tests.data_pipeline.conftest import FAKE_PHI, ramp_volume, write_series


def test_seg_reads_back_onto_its_series_and_belongs_to_the_patient(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", ramp_volume((5, 10, 12)))
    volume = read_series(tmp_path / "ct", case_key="s1")
    mask = np.zeros(volume.hu.shape, np.uint8)
    mask[1:3, 2:6, 3:9] = 1
    out = write_dicom_seg(mask, tmp_path / "ct", tmp_path / "seg.dcm", case_key="s1",
                          algorithm_version="abc123")
    got = read_mask(out, volume.geometry, volume.hu.shape, case_key="s1")
    np.testing.assert_array_equal(got, mask)
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.PatientID == FAKE_PHI["PatientID"]
    algorithm = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == (ALGORITHM_NAME, "abc123")


def test_a_mask_of_another_shape_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", ramp_volume((5, 10, 12)))
    with pytest.raises(ValueError, match=r"case s2: mask shape \(4, 10, 12\) does not match"):
        write_dicom_seg(np.zeros((4, 10, 12), np.uint8), tmp_path / "ct", tmp_path / "seg.dcm",
                        case_key="s2", algorithm_version="0")
    assert not (tmp_path / "seg.dcm").exists()

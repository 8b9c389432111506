"""Tests for data_pipeline/io/dicom_pixels.py: rescale, byte order, bits, decoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import JPEGLosslessSV1, JPEGLSLossless, RLELossless, generate_uid

from data_pipeline.io.dicom import read_series
from tests.data_pipeline.conftest import ramp_volume, read_error, write_series


def test_big_endian_file_from_pydicom_data(tmp_path: Path) -> None:
    source = pydicom.dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    expected = source.pixel_array.astype(np.float32)
    source.Modality = "CT"
    z0 = float(source.ImagePositionPatient[2])
    for i in range(2):
        source.ImagePositionPatient[2] = z0 + 3.0 * i
        source.SOPInstanceUID = generate_uid()
        source.save_as(tmp_path / f"be{i}.dcm")
    volume = read_series(tmp_path, case_key="c4")
    np.testing.assert_array_equal(volume.hu[1], expected)


def test_per_slice_rescale_and_unused_high_bits(tmp_path: Path) -> None:
    hu = ramp_volume((4, 6, 6))
    write_series(
        tmp_path,
        hu,
        slope=[1.0, 2.0, 0.5, 1.0],
        intercept=[-2048, -2048, -1100, -1000],
        bits_stored=12,
        signed=False,
    )
    last = sorted(tmp_path.iterdir())[0]
    ds = pydicom.dcmread(last)
    stored = ds.pixel_array.copy()
    ds.PixelData = (stored | 0xF000).astype(np.uint16).tobytes()  # garbage above bit 11
    ds.save_as(last)
    volume = read_series(tmp_path, case_key="c5")
    np.testing.assert_allclose(volume.hu, np.round(hu * 2) / 2, atol=1)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless], ids=["rle", "jpeg-ls"])
def test_compressed_series_are_decoded(tmp_path: Path, syntax: str) -> None:
    hu = ramp_volume((3, 8, 8))
    write_series(tmp_path, hu, syntax=syntax)
    np.testing.assert_array_equal(read_series(tmp_path, case_key="c6").hu, hu)


@pytest.mark.skipif(
    get_decoder(JPEGLosslessSV1).is_available, reason="a JPEG Lossless decoder is installed"
)
def test_compressed_without_decoder_names_the_package(tmp_path: Path) -> None:
    paths = write_series(tmp_path, ramp_volume((3, 8, 8)))
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encapsulate([b"\xff\xd8not-really-jpeg\xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds.save_as(path)
    message = read_error(tmp_path)
    assert "JPEG Lossless" in message and "pip install pylibjpeg pylibjpeg-libjpeg" in message


def test_all_zero_scan(tmp_path: Path) -> None:
    write_series(tmp_path, np.full((4, 8, 8), -1024.0, dtype=np.float32))
    assert "all-zero scan: every voxel is -1024 HU" in read_error(tmp_path)

"""Tests of data_pipeline/io/dicom.py on real DICOM files (pydicom, SimpleITK/GDCM, test data)."""

from __future__ import annotations

import locale
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    PYDICOM_ROOT_UID,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from data_pipeline.cohort.pseudonym import case_key_from_patient_id
from data_pipeline.errors import DataError
from data_pipeline.io.dicom import CTVolume, key_names_patient, patient_key, read_series
from data_pipeline.io.geometry import Geometry
from data_pipeline.synthetic.generator import case_phantom
from tests.data_pipeline.conftest import FAKE_PHI, ramp_volume, write_series

SALT = b"0123456789abcdef-test-salt"


def assert_private(text: str) -> None:
    """No fake identifier and no UID may appear in a message."""
    for value in FAKE_PHI.values():
        assert value not in text and value.split("^")[0] not in text
    assert PYDICOM_ROOT_UID not in text and "1.2.826.0.1.3680043.2.1125" not in text


def read_error(folder: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_series(folder, case_key="case-x", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("case case-x: ")
    assert_private(message)
    return message


# --- reading what different writers wrote -------------------------------------------------


def test_pydicom_series_is_sorted_by_position_and_matches_simpleitk(tmp_path: Path) -> None:
    hu = ramp_volume((7, 12, 10))
    write_series(tmp_path, hu, spacing=(2.5, 0.7, 0.9), origin=(-10.0, 5.0, 30.0))
    volume = read_series(tmp_path, case_key="c1")
    assert volume.hu.dtype == np.float32 and volume.hu.shape == (7, 12, 10)
    np.testing.assert_array_equal(volume.hu, hu)
    assert volume.geometry == Geometry((2.5, 0.7, 0.9), (-10.0, 5.0, 30.0))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), volume.hu)
    assert Geometry.from_sitk(image).mismatch(volume.geometry) is None


def test_synthetic_cohort_case_matches_its_phantom(tiny_cohort: Path) -> None:
    """The project's writer (shuffled names, intercept -1024, PHI) read back exactly."""
    phantom = case_phantom(tiny_cohort, "case-002")
    volume = read_series(tiny_cohort.parent / "case-002" / "dicom", case_key="case-002")
    np.testing.assert_array_equal(volume.hu, phantom.hu.astype(np.float32))
    mask = sitk.ReadImage(str(tiny_cohort.parent / "case-002" / "lesion.nii.gz"))
    assert volume.geometry.mismatch(Geometry.from_sitk(mask)) is None


def write_with_simpleitk(
    folder: Path, array: np.ndarray, direction: tuple[float, ...]
) -> sitk.Image:
    """Write a series with SimpleITK/GDCM, as in SimpleITK's DicomSeriesFromArray example."""
    folder.mkdir()
    image = sitk.GetImageFromArray(array.astype(np.int16))
    image.SetSpacing((0.9, 0.8, 1.5))
    image.SetOrigin((12.0, -30.0, 4.0))
    image.SetDirection(direction)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    shared = {
        "0020|000e": generate_uid(),
        "0020|0037": "\\".join(str(direction[i]) for i in (0, 3, 6, 1, 4, 7)),
        "0008|0060": "CT",
        "0008|0016": "1.2.840.10008.5.1.4.1.1.2",
    }
    saved = locale.setlocale(locale.LC_ALL)
    try:
        for z in range(array.shape[0]):
            piece = image[:, :, z]
            position = image.TransformIndexToPhysicalPoint((0, 0, z))
            tags = {
                **shared,
                "0008|0018": generate_uid(),
                "0020|0013": str(z),
                "0020|0032": "\\".join(str(v) for v in position),
            }
            for tag, value in tags.items():
                piece.SetMetaData(tag, value)
            writer.SetFileName(str(folder / f"sitk_{array.shape[0] - z:03d}.dcm"))
            writer.Execute(piece)
    finally:  # GDCM's writer switches the process to the C locale: later tests need ours
        locale.setlocale(locale.LC_ALL, saved)
    return image


@pytest.mark.parametrize(
    "direction",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),  # axial
        (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0),  # sagittal: normal along -x
    ],
    ids=["axial", "sagittal"],
)
def test_simpleitk_written_series(tmp_path: Path, direction: tuple[float, ...]) -> None:
    array = ramp_volume((5, 9, 11)).astype(np.int16)
    image = write_with_simpleitk(tmp_path / "s", array, direction)
    volume = read_series(tmp_path / "s", case_key="c2")
    np.testing.assert_array_equal(volume.hu, array)
    assert Geometry.from_sitk(image).mismatch(volume.geometry) is None
    sagittal = direction[2] != 0
    assert volume.describe()["orientation"] == ("sagittal" if sagittal else "axial")
    assert any("sagittal slices" in n for n in volume.notes) == sagittal


def test_pydicom_test_data_ct_slice_copied_into_a_series(tmp_path: Path) -> None:
    """CT_small.dcm (another writer, shipped with pydicom): three copies stacked along z."""
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    expected = source.pixel_array.astype(np.float32) * float(source.RescaleSlope) + float(
        source.RescaleIntercept
    )
    z0 = float(source.ImagePositionPatient[2])
    for i, dz in enumerate((5.0, 0.0, 2.5)):
        source.ImagePositionPatient[2] = z0 + dz
        source.SOPInstanceUID = generate_uid()
        source.save_as(tmp_path / f"copy{i}.dcm")
    volume = read_series(tmp_path, case_key="c3")
    assert volume.hu.shape == (3, 128, 128)
    assert volume.geometry.spacing[0] == pytest.approx(2.5)
    assert volume.geometry.origin[2] == pytest.approx(z0)
    for z in range(3):
        np.testing.assert_array_equal(volume.hu[z], expected)


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


# --- series selection -------------------------------------------------------------------------


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


# --- bad input: each names the case and what is wrong -----------------------------------------


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


def test_all_zero_scan(tmp_path: Path) -> None:
    write_series(tmp_path, np.full((4, 8, 8), -1024.0, dtype=np.float32))
    assert "all-zero scan: every voxel is -1024 HU" in read_error(tmp_path)


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


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    assert "DICOM folder not found" in read_error(tmp_path / "nope")
    assert "holds no files" in read_error(tmp_path)


def test_single_slice_is_not_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((1, 8, 8)))
    assert "the series has 1 slice(s)" in read_error(tmp_path)


# --- identifiers stay inside ------------------------------------------------------------------


def test_volume_and_summary_hold_no_identifiers(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    volume = read_series(tmp_path, case_key="c9")
    assert isinstance(volume, CTVolume)
    assert_private(repr(volume.describe()) + repr(volume.geometry) + repr(volume.notes))


def test_patient_key_and_key_names_patient(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    key = patient_key(tmp_path, salt=SALT)
    assert key == case_key_from_patient_id(FAKE_PHI["PatientID"], SALT)
    assert key.startswith("p-") and len(key) == 14
    assert key_names_patient(tmp_path, FAKE_PHI["PatientID"].lower())
    assert key_names_patient(tmp_path, "adelheid-01")
    assert not key_names_patient(tmp_path, "case-001")
    assert not key_names_patient(tmp_path / "missing", "case-001")

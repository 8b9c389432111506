"""Tests of data_pipeline/io/dicom.py on real DICOM files (pydicom, SimpleITK/GDCM, test data)."""

from __future__ import annotations

import locale
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from data_pipeline.io.dicom import CTVolume, header_values, read_series
from data_pipeline.io.geometry import Geometry
from data_pipeline.synthetic.generator import case_phantom
from tests.data_pipeline.conftest import FAKE_PHI, assert_private, ramp_volume, write_series

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


# --- identifiers stay inside ------------------------------------------------------------------


def test_volume_and_summary_hold_no_identifiers(tmp_path: Path) -> None:
    write_series(tmp_path, ramp_volume((3, 8, 8)))
    volume = read_series(tmp_path, case_key="c9")
    assert isinstance(volume, CTVolume)
    assert_private(repr(volume.describe()) + repr(volume.geometry) + repr(volume.notes))




def test_header_values_lists_what_the_headers_hold(tmp_path: Path) -> None:
    files = write_series(tmp_path, ramp_volume((2, 8, 8)))
    values = header_values(files, ["PatientID", "PatientName", "StudyDate", "OtherPatientIDs"])
    assert values == {FAKE_PHI["PatientID"], FAKE_PHI["PatientName"], FAKE_PHI["StudyDate"]}
    assert header_values([], ["PatientID"]) == set()

"""CT volume files (NIfTI, NRRD, MHA) read into the same checked volume as a DICOM series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.errors import DataError
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.labels import write_mask
from data_pipeline.io.volume_io import read_volume, write_volume

GRID = Geometry(spacing=(2.0, 0.8, 0.7), origin=(-20.0, -25.0, 10.0))


def _hu(shape: tuple[int, int, int] = (6, 12, 10)) -> np.ndarray:
    """Air, a bone ring, tissue: passes the HU check; slice z differs from the others."""
    hu = np.full(shape, -1000.0, np.float32)
    hu[:, 2:-2, 2:-2] = 1200.0
    hu[:, 3:-3, 3:-3] = 30.0
    hu += np.arange(shape[0], dtype=np.float32)[:, None, None]
    return hu


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_each_format_gives_back_the_volume_and_grid(tmp_path: Path, suffix: str) -> None:
    hu = _hu()
    path = write_volume(tmp_path / f"ct{suffix}", hu, GRID)
    volume = read_volume(path, case_key="case-000")
    np.testing.assert_array_equal(volume.hu, hu)
    assert volume.hu.dtype == np.float32
    assert GRID.mismatch(volume.geometry) is None
    assert volume.notes == ()


def test_ras_stored_nifti_keeps_its_voxel_order_with_a_note(tmp_path: Path) -> None:
    ras = Geometry(GRID.spacing, GRID.origin, (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    write_volume(tmp_path / "ct.nii.gz", _hu(), ras)
    volume = read_volume(tmp_path / "ct.nii.gz", case_key="case-000")
    np.testing.assert_array_equal(volume.hu, _hu())
    assert ras.mismatch(volume.geometry) is None
    assert any("RAS order" in note for note in volume.notes)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda p: sitk.WriteImage(sitk.Image([4, 4, 3, 2], sitk.sitkInt16), str(p)),
         "4 dimensions"),
        (lambda p: sitk.WriteImage(sitk.Image([4, 4, 3], sitk.sitkVectorFloat32, 3), str(p)),
         "3 values per voxel"),
        (lambda p: p.write_bytes(b"not an image"), "could not be read"),
        (lambda p: write_volume(p, _hu() / 2000.0, GRID), "not in Hounsfield units"),
    ],
    ids=["4d", "vector", "corrupt", "normalised"],
)
def test_unusable_files_name_the_case_and_the_file(tmp_path: Path, write, expected: str) -> None:
    path = tmp_path / "c9_0000.nii.gz"
    write(path)
    with pytest.raises(DataError) as info:
        read_volume(path, case_key="case-009")
    assert info.value.case_key == "case-009"
    assert expected in str(info.value) and "c9_0000.nii.gz" in str(info.value)


def test_folder_and_manifest_layouts_of_nifti_cases(tmp_path: Path) -> None:
    lesion = np.zeros((6, 12, 10), np.uint8)
    lesion[2:4, 5:7, 4:6] = 1
    folder = tmp_path / "cohort" / "case-000"
    folder.mkdir(parents=True)
    write_volume(folder / "ct.nii.gz", _hu(), GRID)
    write_mask(folder / "lesion.nii.gz", lesion, GRID)
    (ref,) = load_cohort(tmp_path / "cohort")
    assert (ref.key, ref.image.name, ref.mask_path.name, ref.is_dicom) == (
        "case-000", "ct.nii.gz", "lesion.nii.gz", False)
    case = load_case(ref)
    np.testing.assert_array_equal(case.lesion, lesion)
    manifest = tmp_path / "cohort.yaml"
    row = {"key": "a-1", "image": str(folder / "ct.nii.gz"), "mask": str(folder / "lesion.nii.gz")}
    manifest.write_text(yaml.safe_dump({"version": 1, "cases": [row]}))
    (listed,) = load_cohort(manifest)
    assert listed.image == folder / "ct.nii.gz" and listed.dicom_dir == listed.image


def test_a_mask_of_another_grid_is_refused_for_a_nifti_ct(tmp_path: Path) -> None:
    write_volume(tmp_path / "ct.nii.gz", _hu(), GRID)
    shifted = Geometry(GRID.spacing, (-15.0, -25.0, 10.0), GRID.direction)
    write_mask(tmp_path / "lesion.nii.gz", np.ones((6, 12, 10), np.uint8), shifted)
    manifest = tmp_path / "cohort.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "cases": [
        {"key": "case-004", "image": "ct.nii.gz", "mask": "lesion.nii.gz"}]}))
    with pytest.raises(DataError, match="case case-004: mask of another scan"):
        load_case(load_cohort(manifest)[0])

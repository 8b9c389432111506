"""Tests for data_pipeline/synthetic/generator.py: DICOM series, masks, manifest, privacy."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from data_pipeline.synthetic.generator import case_phantom, generate_cohort, phi_values

SHAPE = (48, 48, 48)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _series(dicom_dir: Path) -> tuple[list[Path], list[pydicom.Dataset]]:
    """Files and datasets sorted by position along z."""
    files = sorted(dicom_dir.iterdir())
    datasets = [pydicom.dcmread(f) for f in files]
    order = np.argsort([float(ds.ImagePositionPatient[2]) for ds in datasets])
    return [files[i] for i in order], [datasets[i] for i in order]


@pytest.fixture(scope="module")
def cohort(make_cohort) -> Path:
    return make_cohort(patients=3, shape=SHAPE, seed=0)


def test_manifest_follows_the_architecture_contract(cohort: Path) -> None:
    root = cohort.parent
    manifest = yaml.safe_load(cohort.read_text())
    assert manifest["version"] == 1
    assert [c["key"] for c in manifest["cases"]] == ["case-000", "case-001", "case-002"]
    for case in manifest["cases"]:
        assert case["dicom"] == f"{case['key']}/dicom"
        assert case["mask"] == f"{case['key']}/lesion.nii.gz"
        assert (root / case["dicom"]).is_dir() and (root / case["mask"]).is_file()
        assert len(list((root / case["dicom"]).glob("*.dcm"))) == SHAPE[0]
    assert manifest["generator"]["seed"] == 0 and manifest["generator"]["shape"] == list(SHAPE)


def test_manifest_records_each_case_anatomy(cohort: Path) -> None:
    generator = yaml.safe_load(cohort.read_text())["generator"]
    assert generator["craniectomy_fraction"] == 0.2
    anatomy = generator["anatomy"]
    assert list(anatomy) == ["case-000", "case-001", "case-002"]
    assert all(names[0] == "open_skull_base" for names in anatomy.values())
    with_defect = [key for key, names in anatomy.items() if "craniectomy" in names]
    assert len(with_defect) == 1  # round(0.2 * 3)
    for key, names in anatomy.items():
        defect = case_phantom(cohort, key).tissue
        skull_left = (defect == 2).sum()
        assert ("craniectomy" in names) == (skull_left < _intact_skull(cohort, key))


def _intact_skull(cohort: Path, key: str) -> int:
    """Skull voxels of the same case drawn without a craniectomy."""
    from data_pipeline.synthetic.phantom import make_head_phantom

    case = yaml.safe_load(cohort.read_text())["cases"][int(key[-3:])]
    dicom = pydicom.dcmread(next((cohort.parent / case["dicom"]).iterdir()))
    spacing = (0.5, float(dicom.PixelSpacing[0]), float(dicom.PixelSpacing[1]))
    rng = np.random.default_rng([0, int(key[-3:]), 0])
    return int((make_head_phantom(SHAPE, spacing, rng).tissue == 2).sum())


@pytest.mark.parametrize("key", ["case-000", "case-002"])
def test_stored_values_rescale_to_the_phantom_hu(cohort: Path, key: str) -> None:
    _, datasets = _series(cohort.parent / key / "dicom")
    hu = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    phantom = case_phantom(cohort, key)
    np.testing.assert_array_equal(hu, phantom.hu)
    assert all(
        float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1 for ds in datasets
    )
    assert (phantom.tissue == 2).any()  # the regenerated phantom carries its tissue map


def test_series_geometry_and_identity_elements(cohort: Path) -> None:
    files, datasets = _series(cohort.parent / "case-001" / "dicom")
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in datasets])
    np.testing.assert_allclose(np.diff(z), 0.5, atol=1e-6)
    first = datasets[0]
    assert 0.38 <= float(first.PixelSpacing[0]) == float(first.PixelSpacing[1]) <= 0.5
    for ds in datasets:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert ds.PixelSpacing == first.PixelSpacing
        assert ds.ImagePositionPatient[:2] == first.ImagePositionPatient[:2]
        assert (ds.Rows, ds.Columns) == SHAPE[1:]
        assert ds.SOPClassUID == CTImageStorage and ds.Modality == "CT"
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert float(ds.SliceThickness) == 1.0 and float(ds.SpacingBetweenSlices) == 0.5
        for uid in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            assert ds[uid].value == first[uid].value
    assert [int(ds.InstanceNumber) for ds in datasets] == list(range(1, SHAPE[0] + 1))
    assert len({ds.SOPInstanceUID for ds in datasets}) == SHAPE[0]
    assert files != sorted(files)  # readers must sort by position, not by name


def test_mask_lies_on_the_ct_grid(cohort: Path) -> None:
    _, datasets = _series(cohort.parent / "case-000" / "dicom")
    mask = sitk.ReadImage(str(cohort.parent / "case-000" / "lesion.nii.gz"))
    spacing = float(datasets[0].PixelSpacing[0])
    assert mask.GetSize() == SHAPE[::-1]
    np.testing.assert_allclose(mask.GetSpacing(), (spacing, spacing, 0.5), atol=1e-6)
    np.testing.assert_allclose(
        mask.GetOrigin(), [float(v) for v in datasets[0].ImagePositionPatient], atol=1e-4
    )
    np.testing.assert_allclose(mask.GetDirection(), np.eye(3).ravel(), atol=1e-6)
    array = sitk.GetArrayFromImage(mask)
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, case_phantom(cohort, "case-000").lesion)


def test_nrrd_masks_on_request(make_cohort) -> None:
    manifest = make_cohort(patients=1, shape=(32, 40, 36), seed=4, mask_format="nrrd")
    case = yaml.safe_load(manifest.read_text())["cases"][0]
    assert case["mask"] == "case-000/lesion.nrrd"
    mask = sitk.ReadImage(str(manifest.parent / case["mask"]))
    assert mask.GetSize() == (36, 40, 32)
    assert set(np.unique(sitk.GetArrayFromImage(mask))) == {0, 1}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(
    cohort: Path, make_cohort
) -> None:
    again = _hashes(make_cohort(patients=3, shape=SHAPE, seed=0).parent)
    assert again == _hashes(cohort.parent)
    other = _hashes(make_cohort(patients=3, shape=SHAPE, seed=1).parent)
    shared = set(other) & set(again)
    assert all(other[p] != again[p] for p in shared if p.endswith((".dcm", ".nii.gz")))


def test_identifiers_live_only_in_the_dicom_headers(cohort: Path) -> None:
    root = cohort.parent
    ds = pydicom.dcmread(next((root / "case-000" / "dicom").iterdir()), stop_before_pixels=True)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName"):
        assert str(ds[keyword].value)
    assert str(ds.PatientID).startswith("MRN") and "^" in str(ds.PatientName)
    values = phi_values(root)
    assert {str(ds.PatientName), str(ds.PatientID), str(ds.AccessionNumber)} <= values
    assert len({v for v in values if v.startswith("MRN")}) == 3  # one per patient
    assert min(len(v) for v in values) >= 8  # long enough to search for without false hits
    manifest_text = cohort.read_text()
    names = "\n".join(str(p.relative_to(root)) for p in root.rglob("*"))
    masks = b"".join(gzip.decompress(p.read_bytes()) for p in root.rglob("*.nii.gz"))
    for value in values:
        assert value not in manifest_text and value not in names
        assert value.encode() not in masks


def test_small_lesion_fraction_picks_that_share_of_cases(make_cohort) -> None:
    manifest = make_cohort(patients=2, shape=(32, 32, 32), seed=9, small_lesion_fraction=1.0)
    for key in ("case-000", "case-001"):
        assert case_phantom(manifest, key).lesion.mean() <= 0.003
    with pytest.raises(KeyError, match="case-007"):
        case_phantom(manifest, "case-007")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patients": 0}, "patients"),
        ({"shape": (48, 48)}, "shape"),
        ({"shape": (16, 48, 48)}, "shape"),
        ({"mask_format": "dicom-seg"}, "mask_format"),
        ({"small_lesion_fraction": 1.5}, "small_lesion_fraction"),
        ({"craniectomy_fraction": -0.1}, "craniectomy_fraction"),
    ],
)
def test_bad_arguments_raise_value_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    arguments = {"patients": 1, "shape": (32, 32, 32), **kwargs}
    with pytest.raises(ValueError, match=match):
        generate_cohort(
            tmp_path / "c", arguments.pop("patients"), arguments.pop("shape"), 0, **arguments
        )


def test_a_non_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "old.dcm").write_bytes(b"stale")
    with pytest.raises(ValueError, match="not empty"):
        generate_cohort(tmp_path, 1, (32, 32, 32), 0, progress=False)


def test_progress_bars_only_when_asked(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    generate_cohort(tmp_path / "quiet", 1, (32, 32, 32), 0, progress=False)
    assert capfd.readouterr().err == ""
    generate_cohort(tmp_path / "loud", 1, (32, 32, 32), 0, progress=True)
    assert "patients" in capfd.readouterr().err



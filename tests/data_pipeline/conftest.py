"""Fixtures for data_pipeline tests: tiny synthetic cohorts and a DICOM series writer.

``make_cohort`` writes small cohorts with the project's own generator
(``data_pipeline.synthetic.generator``), ``tiny_cohort`` is one of them written once per
session; ``write_series`` writes small hand-made series with pydicom, so that tests
can break them on purpose (gaps, tilt, other modalities, ...).
Both put fake identifiers in every header (``FAKE_PHI``; the generator's are listed by its
``phi_values``), so that privacy tests can look for them in whatever a run writes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
import pytest
import yaml
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_ROOT_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    RTStructureSetStorage,
    generate_uid,
)

from data_pipeline.errors import DataError
from data_pipeline.io.dicom import read_series
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.labels import write_mask
from data_pipeline.synthetic.generator import generate_cohort

#: Identifiers written into every hand-made header; none may appear in any output.
FAKE_PHI = {
    "PatientName": "Testperson^Adelheid",
    "PatientID": "PID-98765-XQ",
    "PatientBirthDate": "19510203",
    "InstitutionName": "Saint Example Hospital",
    "AccessionNumber": "ACC-424242",
    "StudyDate": "20230405",
}


#: The grid ``write_series`` uses unless told otherwise.
SERIES_GEOMETRY = Geometry(spacing=(2.0, 0.8, 0.8), origin=(-20.0, -25.0, 10.0))


def write_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing: tuple[float, float, float] = SERIES_GEOMETRY.spacing,
    origin: tuple[float, float, float] = SERIES_GEOMETRY.origin,
    row: Sequence[float] = (1.0, 0.0, 0.0),
    col: Sequence[float] = (0.0, 1.0, 0.0),
    positions: np.ndarray | None = None,
    modality: str = "CT",
    series_uid: str | None = None,
    series_number: int = 1,
    slope: float | Sequence[float] = 1.0,
    intercept: float | Sequence[float] = -1024.0,
    bits_stored: int = 16,
    signed: bool = True,
    syntax: str = ExplicitVRLittleEndian,
    prefix: str = "",
    seed: int = 0,
) -> list[Path]:
    """Write ``hu`` ``(Z, Y, X)`` as one DICOM file per slice; return paths in slice order.

    File names are shuffled and InstanceNumber reversed, so only positions give the order.
    ``slope``/``intercept`` may be per slice. ``positions`` overrides the computed
    ImagePositionPatient of each slice.
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = hu.shape[0]
    slopes = np.broadcast_to(np.asarray(slope, dtype=float), (n,))
    intercepts = np.broadcast_to(np.asarray(intercept, dtype=float), (n,))
    normal = np.cross(row, col)
    if positions is None:
        positions = np.asarray(origin) + np.outer(np.arange(n) * spacing[0], normal)
    series_uid = series_uid or generate_uid()
    study, frame = generate_uid(), generate_uid()
    names = np.random.default_rng(seed).permutation(n)
    dtype = np.int16 if signed else np.uint16
    paths = []
    for z in range(n):
        ds = _slice_header(modality, series_uid, study, frame, series_number)
        ds.InstanceNumber = n - z
        ds.ImagePositionPatient = [float(v) for v in positions[z]]
        ds.ImageOrientationPatient = [float(v) for v in (*row, *col)]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
        ds.PixelRepresentation = int(signed)
        ds.RescaleSlope, ds.RescaleIntercept = slopes[z], intercepts[z]
        stored = np.round((hu[z] - intercepts[z]) / slopes[z]).astype(dtype)
        ds.PixelData = stored.tobytes()
        if syntax != ExplicitVRLittleEndian:
            ds.compress(syntax)
        path = folder / f"{prefix}IM{names[z]:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _slice_header(modality: str, series: str, study: str, frame: str, number: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    for keyword, value in FAKE_PHI.items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.Modality, ds.SeriesNumber = modality, number
    ds.PatientSex, ds.StudyTime, ds.StudyID, ds.ReferringPhysicianName = "F", "101500", "1", ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    return ds


def write_rt_struct(path: Path, header: dict[str, object]) -> None:
    """Write an RT structure set (a DICOM object without pixel data) carrying ``header``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTStructureSetStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    ds.Modality, ds.SeriesInstanceUID, ds.StructureSetLabel = "RTSTRUCT", generate_uid(), "lesion"
    ds.save_as(path, enforce_file_format=True)


def assert_private(text: str) -> None:
    """No fake identifier and no UID may appear in a message."""
    for value in FAKE_PHI.values():
        assert value not in text and value.split("^")[0] not in text
    assert PYDICOM_ROOT_UID not in text and "1.2.826.0.1.3680043.2.1125" not in text


def read_error(folder: Path, **kwargs: object) -> str:
    """The message of the ``DataError`` that reading ``folder`` as case-x raises, checked
    to name the case and to hold no identifier."""
    with pytest.raises(DataError) as info:
        read_series(folder, case_key="case-x", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("case case-x: ")
    assert_private(message)
    return message


def ramp_volume(shape: tuple[int, int, int] = (6, 12, 10), seed: int = 0) -> np.ndarray:
    """HU volume whose slice z holds values around 100 * z: any misordering shows."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-40, 40, size=shape)
    return (np.arange(shape[0])[:, None, None] * 100 - 1000 + noise).astype(np.float32)


@pytest.fixture(scope="session")
def make_cohort(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory of small synthetic cohorts, each in a new folder; returns the manifest path.

    ``make_cohort(patients=2, shape=(32, 32, 32), seed=0, mask_format="nifti",
    small_lesion_fraction=0.3, craniectomy_fraction=0.2)`` calls the project's generator
    (``data_pipeline.synthetic.generator``) without progress bars. Session-wide, so that
    module- and session-scoped fixtures can use it too.
    """

    def make(
        patients: int = 2,
        shape: tuple[int, int, int] = (32, 32, 32),
        seed: int = 0,
        *,
        mask_format: Literal["nifti", "nrrd"] = "nifti",
        small_lesion_fraction: float = 0.3,
        craniectomy_fraction: float = 0.2,
    ) -> Path:
        out = tmp_path_factory.mktemp("cohort")
        return generate_cohort(out, patients, shape, seed, mask_format=mask_format,
                               small_lesion_fraction=small_lesion_fraction,
                               craniectomy_fraction=craniectomy_fraction, progress=False)

    return make


@pytest.fixture(scope="session")
def tiny_cohort(make_cohort: Callable[..., Path]) -> Path:
    """Manifest path of a 3-patient 48^3 synthetic cohort (pydicom series + NIfTI masks)."""
    return make_cohort(patients=3, shape=(48, 48, 48), seed=0)


#: Cases of ``broken_cohort`` and a phrase its problem must contain ("case-000" is fine).
BROKEN_CASES = {
    "truncated": "is truncated",
    "other-patient": "the slices disagree on the patient",  # issue 28
    "not-hu": "is not in Hounsfield units",  # issue 28: DICOM gets the HU check
    "missing-slice": "missing slice: 1 slice(s) missing",
    "mixed-series": "mixed series: the folder holds 2 CT series",
    "other-scan-mask": "mask of another scan?",
    "empty-mask": "empty mask",
    "all-zero": "all-zero scan",
    "non-ct": "non-CT modality",
}


@pytest.fixture(scope="session")
def broken_cohort(tiny_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of one good synthetic case plus one case per error in ``BROKEN_CASES``."""
    source = tiny_cohort.parent
    out = tmp_path_factory.mktemp("broken_cohort")
    rows = [
        {
            "key": "case-000",
            "dicom": str(source / "case-000/dicom"),
            "mask": str(source / "case-000/lesion.nii.gz"),
        }
    ]

    def copy_case(key: str, mask_of: str = "case-001") -> Path:
        shutil.copytree(source / "case-001/dicom", out / key / "dicom")
        mask = str(source / mask_of / "lesion.nii.gz")
        rows.append({"key": key, "dicom": f"{key}/dicom", "mask": mask})
        return out / key / "dicom"

    files = sorted(copy_case("truncated").iterdir())
    files[5].write_bytes(files[5].read_bytes()[:-100])
    odd = sorted(copy_case("other-patient").iterdir())[7]  # one slice of another patient
    dataset = pydicom.dcmread(odd)
    dataset.PatientID, dataset.PatientName = "OTHER-PID-31337", "Otherperson^Bruno"
    dataset.save_as(odd)
    sorted(copy_case("missing-slice").iterdir())[0].unlink()  # names are random: any slice
    _add_second_series(copy_case("mixed-series"), source / "case-002/dicom")
    copy_case("other-scan-mask", mask_of="case-002")
    with_bone = ramp_volume((4, 8, 8))
    with_bone[:, 0, 0] = 1000.0  # air and bone: a CT in HU, only its mask is empty
    for key, hu, modality in (
        ("empty-mask", with_bone, "CT"),
        ("not-hu", ramp_volume((4, 8, 8)) + 1024.0, "CT"),  # stored values, no intercept
        ("all-zero", np.full((4, 8, 8), -1024.0), "CT"),
        ("non-ct", ramp_volume((4, 8, 8)), "MR"),
    ):
        write_series(out / key / "dicom", hu, modality=modality)
        mask = np.zeros((4, 8, 8), np.uint8)
        mask[1:3, 2:4, 2:4] = key != "empty-mask"
        write_mask(out / key / "lesion.nii.gz", mask, SERIES_GEOMETRY)
        rows.append({"key": key, "dicom": f"{key}/dicom", "mask": f"{key}/lesion.nii.gz"})
    manifest = out / "cohort.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "cases": rows}, sort_keys=False))
    return manifest


def _add_second_series(folder: Path, source: Path) -> None:
    """Copy another case's slices into ``folder`` as a second series of the same size."""
    uid = generate_uid()
    for file in sorted(source.iterdir()):
        ds = pydicom.dcmread(file)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.save_as(folder / f"b-{file.name}")

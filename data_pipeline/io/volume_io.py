"""CT volumes from NIfTI, NRRD or MHA files -> the same checked ``CTVolume`` a DICOM series gives.

Why a module of its own: an nnU-Net raw dataset, an ISLES-style challenge set or a lab's
own conversion (dcm2niix) stores the CT as one volume file. Reading it is SimpleITK's
job; what this module adds is the checks a DICOM series gets in ``series_layout``, for a
volume file:

- one 3D grey volume (no 4D stacks, no vector images);
- an orthonormal voxel grid: a sheared grid (an uncorrected gantry tilt) cannot be
  described by ``Geometry`` and is refused, as for DICOM;
- the voxel order is kept as stored (like nnU-Net, nothing is resampled or flipped, so
  a prediction maps voxel for voxel onto the input file); a grid whose slices are not
  axial, or whose axes are not in the LPS order a DICOM axial series is read in, gets a
  note (a model trained on DICOM cohorts would see such images mirrored or turned);
- the values are Hounsfield units (:func:`data_pipeline.io.hu_check.check_hounsfield`):
  a file's scaling (NIfTI ``scl_slope``/``scl_inter``) is applied by SimpleITK, and an
  already normalised or windowed volume is refused, naming the case.

The lesion mask of such a case is read by ``data_pipeline.io.labels.read_mask`` exactly as
for a DICOM case: it must lie on this grid (axis flips undone, nothing interpolated).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from data_pipeline.errors import DataError
from data_pipeline.io.dicom import CTVolume
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.hu_check import check_hounsfield
from data_pipeline.io.series_layout import orientation_name

__all__ = ["VOLUME_SUFFIXES", "check_volume_header", "is_volume_file", "read_volume",
           "volume_format", "write_volume"]

logger = logging.getLogger(__name__)

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
"""File endings read as CT volumes (a 3D Slicer ``.seg.nrrd`` is a mask, never a CT)."""
_ORTHONORMAL_TOL = 1e-4
_DICOM_AXIAL_ORDER = "LPS"


def volume_format(path: Path) -> str | None:
    """``nifti``, ``nrrd`` or ``metaimage`` for a CT volume file, else None (a folder, a mask)."""
    name = Path(path).name.lower()
    if name.endswith(".seg.nrrd") or not name.endswith(VOLUME_SUFFIXES):
        return None
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    return "nrrd" if name.endswith(".nrrd") else "metaimage"


def is_volume_file(path: Path) -> bool:
    """Whether ``path`` names a CT volume file (by suffix; a folder never is one)."""
    return volume_format(path) is not None and not Path(path).is_dir()


def _existing_volume_file(path: Path, case_key: str) -> tuple[Path, str]:
    """``path`` and its format, or the error that it is no CT volume file or is missing."""
    kind = volume_format(path)
    if kind is None:
        raise DataError(case_key, f"{path.name}: not a CT volume file; expected one of "
                        f"{', '.join(VOLUME_SUFFIXES)}")
    if not path.is_file():
        raise DataError(case_key, f"CT file {path.name} not found; check the cohort's path")
    return path, kind


def check_volume_header(path: Path, *, case_key: str) -> tuple[str, ...]:
    """Check a CT volume file by its header alone (format, existence, one 3D grey
    volume); return its notes. For ``--dry-run``: no voxel is read.

    Raises:
        DataError: what :func:`read_volume` would raise before reading voxels.
    """
    path, kind = _existing_volume_file(Path(path), case_key)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise DataError(case_key, f"{kind} CT {path.name} could not be read: corrupt or not a "
                        f"{kind} file") from None
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise DataError(case_key, f"{kind} CT {path.name} is not one 3D grey volume "
                        f"({reader.GetDimension()}D, {reader.GetNumberOfComponents()} "
                        "component(s))")
    return ()


def read_volume(path: Path, *, case_key: str) -> CTVolume:
    """Read one CT volume file into a checked float32 HU volume ``(Z, Y, X)``.

    Args:
        path: a ``.nii``/``.nii.gz``/``.nrrd``/``.mha``/``.mhd`` file.
        case_key: pseudonymous key used in every message.

    Raises:
        DataError: a missing or unreadable file, not one 3D grey volume, a sheared grid,
            or values that are not Hounsfield units; each names the case and the file.
    """
    path, kind = _existing_volume_file(Path(path), case_key)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise DataError(
            case_key,
            f"{kind} CT {path.name} could not be read: corrupt, not a {kind} file, or a "
            "sheared grid (an uncorrected gantry tilt) that ITK refuses; resample it "
            "onto an orthogonal grid (dcm2niix corrects gantry tilt)") from None
    _check_image(image, kind, path.name, case_key)
    hu = sitk.GetArrayFromImage(sitk.Cast(image, sitk.sitkFloat32))
    check_hounsfield(hu, case_key=case_key, source=f"{kind} CT {path.name}")
    geometry = Geometry.from_sitk(image)
    notes = _orientation_notes(geometry)
    logger.debug("case %s: read %s CT %s", case_key, kind, hu.shape)
    return CTVolume(hu=np.ascontiguousarray(hu), geometry=geometry, notes=notes)


def write_volume(path: Path, hu: np.ndarray, geometry: Geometry) -> Path:
    """Write a ``(Z, Y, X)`` HU volume with its geometry (int16 when every value is whole).

    Used to export a cohort as an nnU-Net dataset; the format follows the suffix.
    """
    path = Path(path)
    if volume_format(path) is None:
        raise ValueError(f"write_volume writes {', '.join(VOLUME_SUFFIXES)}, got {path.name!r}")
    whole = np.array_equal(hu, np.round(hu)) and hu.min() >= -32768 and hu.max() <= 32767
    array = hu.astype(np.int16 if whole else np.float32)
    image = geometry.to_sitk(sitk.GetImageFromArray(np.ascontiguousarray(array)))
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def _check_image(image: sitk.Image, kind: str, name: str, case_key: str) -> None:
    """One 3D grey volume on an orthonormal grid, or a ``DataError`` saying what it is."""
    if image.GetDimension() != 3:
        raise DataError(case_key, f"{kind} CT {name} has {image.GetDimension()} dimensions; "
                        "expected one 3D volume (split 4D files into one file per volume)")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(case_key, f"{kind} CT {name} has {image.GetNumberOfComponentsPerPixel()} "
                        "values per voxel; expected one grey value (a CT, not a colour image)")
    if min(image.GetSpacing()) <= 0:
        raise DataError(case_key, f"{kind} CT {name} has a voxel spacing of "
                        f"{image.GetSpacing()} mm; expected three positive sizes")
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHONORMAL_TOL):
        raise DataError(case_key, f"{kind} CT {name} lies on a sheared grid (direction "
                        f"{np.round(direction, 4).tolist()}); resample it onto an orthogonal "
                        "grid first")


def _orientation_notes(geometry: Geometry) -> tuple[str, ...]:
    """Notes on a grid that is not an axial one in DICOM's LPS voxel order."""
    direction = np.asarray(geometry.direction).reshape(3, 3)
    plane = orientation_name(direction[:, 2])
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(geometry.direction)
    notes = []
    if plane != "axial":
        notes.append(f"{plane} slices: axis 0 of the array follows the file's third axis, "
                     "not the body axis")
    if code != _DICOM_AXIAL_ORDER:
        notes.append(f"voxel axes in {code} order (a DICOM axial series is read as "
                     f"{_DICOM_AXIAL_ORDER}); keep one format per cohort, or a model sees "
                     "mirrored images")
    return tuple(notes)

"""Lesion masks (NIfTI, NRRD, 3D Slicer ``.seg.nrrd``, DICOM SEG) -> a 0/1 mask on the CT grid.

Why one module: labs draw masks in 3D Slicer or ITK-SNAP and save them in whichever
format the tool offers, and every format stores its grid differently. Here each one is
read by a library (SimpleITK for NIfTI/NRRD, highdicom for DICOM SEG), the lesion label
is picked, and the result is placed on the CT's voxel grid **without interpolation**:

- axis order and axis flips are undone (``SimpleITK.DICOMOrient`` to the CT's
  orientation code), because that changes no voxel;
- then spacing, origin and direction must agree with the CT within
  ``Geometry.mismatch``'s tolerance, and the shape must be the CT's;
- formats that crop to the drawn region by design (``.seg.nrrd`` saves the segment's
  extent; DICOM SEG omits empty frames) may also be a box of the CT's lattice: it is
  pasted into an empty CT-sized mask at its integer voxel offset;
- anything else is a mask of another scan, and the error prints both geometries.

Which voxels are lesion (``label``): ``None`` -> every label > 0 (NIfTI/NRRD), or the
single/first segment (``.seg.nrrd``, DICOM SEG); an ``int`` -> that label value (segment
number for DICOM SEG); a ``str`` -> the segment with that name (``.seg.nrrd``, DICOM SEG).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from data_pipeline.errors import DataError
from data_pipeline.io.dicom import is_dicom_file
from data_pipeline.io.geometry import Geometry

__all__ = ["MASK_SUFFIXES", "lesion_volume_ml", "mask_format", "read_mask", "read_prediction",
           "write_mask"]

logger = logging.getLogger(__name__)

#: File endings read as masks, longest first so that ``.seg.nrrd`` wins over ``.nrrd``.
MASK_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".dcm")
_CROPPING_FORMATS = {"seg.nrrd", "dicom-seg"}
_LATTICE_TOL = 0.01  # voxels: how far from an integer offset a cropped mask may start


def mask_format(path: Path) -> str:
    """Name the mask format of ``path``: nifti, nrrd, seg.nrrd or dicom-seg (by suffix)."""
    name = Path(path).name.lower()
    if Path(path).is_dir() or name.endswith(".dcm"):
        return "dicom-seg"
    if name.endswith(".seg.nrrd"):
        return "seg.nrrd"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".nrrd"):
        return "nrrd"
    raise ValueError(
        f"unknown mask format for {Path(path).name!r}; expected one of {', '.join(MASK_SUFFIXES)} "
        "or a folder holding one DICOM SEG file"
    )


def read_mask(
    path: Path,
    reference: Geometry,
    shape: tuple[int, int, int],
    *,
    case_key: str,
    label: int | str | None = None,
) -> np.ndarray:
    """Read a lesion mask and return it on the CT grid as uint8 0/1 ``(Z, Y, X)``.

    Args:
        path: mask file, or a folder holding one DICOM SEG file.
        reference: the CT's geometry (from ``read_series``).
        shape: the CT's array shape ``(Z, Y, X)``.
        case_key: pseudonymous case key for the messages.
        label: which voxels are lesion; see the module docstring.

    Raises:
        DataError: unreadable file, unknown label or segment, non-integer values, a mask
            of another scan (both geometries printed), or an empty mask.
    """
    path = Path(path)
    mask, kind = _mask_on_grid(path, reference, shape, case_key=case_key, label=label)
    if not mask.any():
        raise DataError(
            case_key,
            f"empty mask: {kind} mask {path.name} has no lesion voxels ("
            f"{'any label > 0 or the first segment' if label is None else f'label {label!r}'}); "
            "check the label/segment, or that the lesion was saved",
        )
    return mask


def read_prediction(path: Path, reference: Geometry, shape: tuple[int, int, int], *,
                    case_key: str) -> np.ndarray:
    """Read a predicted mask (a baseline's output, on the CT's grid) as uint8 0/1
    ``(Z, Y, X)``; unlike :func:`read_mask`, an empty prediction is a valid answer.

    Raises:
        DataError: unreadable file, non-integer values, or a mask of another grid.
    """
    return _mask_on_grid(Path(path), reference, shape, case_key=case_key, label=None)[0]


def _mask_on_grid(path: Path, reference: Geometry, shape: tuple[int, int, int], *,
                  case_key: str, label: int | str | None) -> tuple[np.ndarray, str]:
    image, kind = _open_mask(path, label, case_key)
    mask = _onto_grid(image, reference, shape, allow_box=kind in _CROPPING_FORMATS,
                      case_key=case_key, what=f"{kind} mask {path.name}")
    return mask, kind


def lesion_volume_ml(path: Path, *, case_key: str, label: int | str | None = None) -> float:
    """The lesion volume of a mask file in mL, read without its CT (for fold strata).

    Raises:
        DataError: a missing or unreadable file, or an unknown label or segment.
    """
    path = Path(path)
    image, _ = _open_mask(path, label, case_key)
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(image)))
    return voxels * float(np.prod(image.GetSpacing())) / 1000.0


def write_mask(path: Path, mask: np.ndarray, geometry: Geometry) -> Path:
    """Write a ``(Z, Y, X)`` 0/1 mask as compressed NIfTI or NRRD with its geometry.

    Used for predictions: any tool that reads the CT puts the mask back on it.
    """
    path = Path(path)
    if mask_format(path) not in ("nifti", "nrrd"):  # a .seg.nrrd needs Slicer's segment fields
        raise ValueError(f"write_mask writes .nii, .nii.gz or .nrrd, got {path.name!r}")
    image = geometry.to_sitk(sitk.GetImageFromArray(np.ascontiguousarray(mask, dtype=np.uint8)))
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def _open_mask(path: Path, label: int | str | None, case_key: str) -> tuple[sitk.Image, str]:
    """Open a mask file as a 0/1 image of the lesion label, on its own grid; and its format.

    The one way in for every reader here, so that a missing file, an unknown format and
    the libraries' warnings are handled alike.

    Raises:
        DataError: a missing, unknown or unreadable file, or an unknown label or segment.
    """
    if not path.exists():
        raise DataError(case_key, f"mask {path.name} not found; check the cohort's mask path")
    try:
        kind = mask_format(path)
    except ValueError as err:
        raise DataError(case_key, str(err)) from None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(pydicom|highdicom)(\.|$)")
        return _read_lesion_image(path, kind, label, case_key), kind


def _read_lesion_image(path: Path, kind: str, label: int | str | None, case_key: str) -> sitk.Image:
    """Read the file and return a scalar uint8 0/1 image of the chosen label."""
    if kind == "dicom-seg":
        return _dicom_seg_segment(path, label, case_key)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise DataError(
            case_key,
            f"{kind} mask {path.name} could not be read (corrupt or not "
            f"a {kind} file); save it again",
        ) from None
    if image.GetDimension() != 3:
        raise DataError(
            case_key,
            f"{kind} mask {path.name} has {image.GetDimension()} dimensions; expected a 3D mask",
        )
    if kind == "seg.nrrd" and image.HasMetaDataKey("Segment0_LabelValue"):
        return _slicer_segment(image, label, path.name, case_key)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(
            case_key,
            f"{kind} mask {path.name} has "
            f"{image.GetNumberOfComponentsPerPixel()} values per voxel; expected one "
            "label per voxel",
        )
    if isinstance(label, str):
        raise DataError(
            case_key,
            f"label {label!r} is a name, but {kind} files hold no label "
            "names; give the label value as an integer",
        )
    values = sitk.GetArrayViewFromImage(image)
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        raise DataError(
            case_key,
            f"{kind} mask {path.name} holds non-integer values (a "
            "probability map?); threshold it to labels first",
        )
    chosen = values > 0 if label is None else values == label
    return _like(chosen, image)


def _slicer_segment(
    image: sitk.Image, label: int | str | None, name: str, case_key: str
) -> sitk.Image:
    """Pick one segment of a 3D Slicer segmentation (layers x label values)."""
    segments = []
    i = 0
    while image.HasMetaDataKey(f"Segment{i}_LabelValue"):
        meta = {
            k: image.GetMetaData(f"Segment{i}_{k}")
            if image.HasMetaDataKey(f"Segment{i}_{k}")
            else ""
            for k in ("Name", "LabelValue", "Layer")
        }
        segments.append((meta["Name"], int(meta["LabelValue"]), int(meta["Layer"] or 0)))
        i += 1
    if label is None:
        chosen = segments[:1]
    elif isinstance(label, str):
        chosen = [s for s in segments if s[0] == label]
    else:
        chosen = [s for s in segments if s[1] == label]
    if len(chosen) != 1:
        names = ", ".join(f"{s[0]!r} (value {s[1]}, layer {s[2]})" for s in segments)
        raise DataError(
            case_key,
            f"segment {label!r} {'is ambiguous' if chosen else 'not found'} "
            f"in {name}; its segments: {names}",
        )
    _, value, layer = chosen[0]
    values = sitk.GetArrayViewFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        values = values[..., layer]
    return _like(values == value, image)


def _dicom_seg_segment(path: Path, label: int | str | None, case_key: str) -> sitk.Image:
    """Pick one segment of a DICOM SEG (highdicom) as a binary image on its own grid."""
    import highdicom  # imported here: about a second, and only DICOM SEG needs it

    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    )
    segs = []
    for file in (f for f in files if is_dicom_file(f)):
        try:
            segs.append(highdicom.seg.segread(file))
        except (ValueError, AttributeError, KeyError, TypeError, OSError, EOFError):
            continue  # a DICOM file, but not a usable SEG object: look at the next one
    if len(segs) != 1:
        raise DataError(
            case_key,
            f"expected one DICOM SEG object at {path.name}, found "
            f"{len(segs)} among {len(files)} file(s)",
        )
    seg = segs[0]
    numbers = list(seg.segment_numbers)
    names = {n: seg.get_segment_description(n).segment_label for n in numbers}
    if label is None:
        chosen = numbers[:1]
    elif isinstance(label, str):
        chosen = [n for n in numbers if names[n] == label]
    else:
        chosen = [n for n in numbers if n == label]
    if len(chosen) != 1:
        listed = ", ".join(f"{n}: {names[n]!r}" for n in numbers)
        raise DataError(
            case_key,
            f"segment {label!r} {'is ambiguous' if chosen else 'not found'} "
            f"in DICOM SEG {path.name}; its segments: {listed}",
        )
    try:
        volume = seg.get_volume(segment_numbers=chosen, combine_segments=True, dtype=np.uint8)
    except (ValueError, RuntimeError) as err:
        raise DataError(
            case_key,
            f"DICOM SEG {path.name}: its frames do not form one regular "
            f"volume ({type(err).__name__}); export it again",
        ) from None
    image = volume.to_simpleitk()
    return _like(sitk.GetArrayViewFromImage(image) > 0, image)


def _like(mask: np.ndarray, image: sitk.Image) -> sitk.Image:
    """Make a uint8 image of ``mask`` with the geometry of ``image``."""
    return Geometry.from_sitk(image).to_sitk(sitk.GetImageFromArray(mask.astype(np.uint8)))


def _onto_grid(
    image: sitk.Image,
    reference: Geometry,
    shape: tuple[int, int, int],
    *,
    allow_box: bool,
    case_key: str,
    what: str,
) -> np.ndarray:
    """Put the mask on the CT grid (same lattice only) or refuse with both geometries."""
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(reference.direction)
    image = sitk.DICOMOrient(image, code)
    geometry = Geometry.from_sitk(image)
    array = sitk.GetArrayFromImage(image)
    depth, rows, cols = shape
    shape = (int(depth), int(rows), int(cols))
    problem = reference.mismatch(geometry)
    if problem is None and array.shape == shape:
        return array
    if allow_box:
        start = _box_offset(geometry, array.shape, reference, shape)
        if start is not None:
            logger.debug("case %s: %s covers a box at voxel %s of the CT", case_key, what, start)
            full = np.zeros(shape, dtype=np.uint8)
            full[tuple(slice(s, s + n) for s, n in zip(start, array.shape, strict=True))] = array
            return full
    raise DataError(
        case_key,
        f"mask of another scan? {what} does not lie on the CT grid "
        f"({problem or f'shape {array.shape} vs {shape}'}).\n  CT:   shape {shape}, "
        f"{_geometry_text(reference)}\n  mask: shape {array.shape}, {_geometry_text(geometry)}\n"
        "Re-export the mask with the CT as reference (Slicer: 'Export to file' with the CT "
        "as reference geometry; ITK-SNAP: save over the same main image)",
    )


def _box_offset(
    geometry: Geometry, box: tuple[int, ...], reference: Geometry, shape: tuple[int, ...]
) -> tuple[int, int, int] | None:
    """Voxel offset ``(z, y, x)`` of a mask box on the CT lattice, or None if it is not one."""
    same_axes = Geometry(reference.spacing, geometry.origin, reference.direction)
    if same_axes.mismatch(geometry) is not None:
        return None
    probe = reference.to_sitk(sitk.Image(1, 1, 1, sitk.sitkUInt8))
    index_xyz = np.array(probe.TransformPhysicalPointToContinuousIndex(geometry.origin))
    if np.abs(index_xyz - np.round(index_xyz)).max() > _LATTICE_TOL:
        return None
    x, y, z = np.round(index_xyz)
    start = (int(z), int(y), int(x))
    if any(s < 0 or s + n > m for s, n, m in zip(start, box, shape, strict=True)):
        return None
    return start


def _geometry_text(g: Geometry) -> str:
    d = np.round(np.asarray(g.direction), 4).tolist()
    return (
        f"spacing (z,y,x) {tuple(round(s, 4) for s in g.spacing)} mm, origin (x,y,z) "
        f"{tuple(round(o, 3) for o in g.origin)} mm, direction {d}"
    )

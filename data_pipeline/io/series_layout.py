"""How the slices of the chosen CT series form a volume, in which order, on which grid.

Why a module of its own: once the headers are read and the series is chosen
(:mod:`~data_pipeline.io.series_choice`), placing its slices is plain logic on header
values, and it holds most of the ways a series can be unusable (mixed acquisitions, a
missing slice, a tilted gantry, another patient's slice). Keeping it free of pydicom lets
``dicom.py`` stay about reading files, and lets the rules be read in one place.

The slice rules, as DICOM defines the patient coordinate system (PS3.3 C.7.6.2.1.1):

- the slice normal is ``row direction x column direction`` (what ITK/GDCM use too);
- slices are ordered by the position of their top-left voxel along that normal, not
  by file name and not by InstanceNumber (both are unreliable across PACS exports);
- the slice spacing is the median step between neighbours; a step that is a multiple
  of it means slices are missing, any other deviation is uneven spacing;
- a shift of the slice origins inside the slice plane means a tilted gantry: the grid
  is sheared, which ``Geometry`` cannot describe, so the series is refused.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_pipeline.errors import DataError
from data_pipeline.io.geometry import Geometry

__all__ = [
    "SliceHeader",
    "SliceLayout",
    "check_uniform",
    "layout_slices",
    "orientation_name",
]

logger = logging.getLogger(__name__)

#: Relative tolerance on the step between slices (1 % of the median step) ...
SPACING_RTOL = 0.01
#: ... and an absolute floor for it (mm): positions are stored as decimal strings.
SPACING_ATOL_MM = 0.01
#: In-plane shift of slice origins (mm, over the whole series) above which the
#: gantry counts as tilted.
TILT_ATOL_MM = 0.05


@dataclass(frozen=True)
class SliceHeader:
    """What a reader learns about one file from its header; UIDs stay out of the repr."""

    index: int
    path: Path = field(repr=False)
    series_uid: str = field(repr=False)
    series_number: int | None
    modality: str
    localizer: bool
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    image_format: tuple[int, ...]  # rows, columns, bits allocated/stored, sign, samples, frames
    slope: float
    intercept: float
    syntax: str  # transfer syntax UID (a standard constant, not an identifier)
    pixel_offset: int | None  # byte offset of native pixel data; None if encapsulated
    patient: str = field(default="", repr=False)  # hash of PatientID, PatientName, BirthDate


@dataclass(frozen=True)
class SliceLayout:
    """Where the slices of a series go.

    Attributes:
        order: indices into the input slices, sorted along the slice normal.
        geometry: the voxel grid of the sorted ``(Z, Y, X)`` volume.
        notes: non-fatal remarks (e.g. a non-axial orientation) for the summary.
    """

    order: np.ndarray
    geometry: Geometry
    notes: tuple[str, ...]


def orientation_name(normal: np.ndarray) -> str:
    """Name the acquisition plane of a slice normal (LPS): axial, coronal, sagittal, oblique."""
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < np.cos(np.deg2rad(10.0)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def layout_slices(
    positions: np.ndarray,
    row_cosines: np.ndarray,
    col_cosines: np.ndarray,
    pixel_spacing: tuple[float, float],
    *,
    case_key: str,
) -> SliceLayout:
    """Sort slices along their normal and derive the grid, refusing what is not one.

    Args:
        positions: ``(N, 3)`` ImagePositionPatient of each slice (mm, LPS).
        row_cosines: direction of increasing column index (ImageOrientationPatient[:3]).
        col_cosines: direction of increasing row index (ImageOrientationPatient[3:]).
        pixel_spacing: ``(row spacing, column spacing)`` = ``(y, x)`` in mm.
        case_key: pseudonymous case key for the error messages.

    Returns:
        The sorted order, the geometry and notes.

    Raises:
        DataError: fewer than two slices, two slices at one position, missing slices,
            uneven spacing, or a tilted gantry. Slices are named by their sorted index
            and position along the normal, never by file name or UID.
    """
    n = len(positions)
    if n < 2:
        raise DataError(
            case_key, f"the series has {n} slice(s); a CT volume needs at least 2 slices"
        )
    row = np.asarray(row_cosines, dtype=np.float64)
    col = np.asarray(col_cosines, dtype=np.float64)
    normal = np.cross(row, col)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along = along[order]
    steps = np.diff(along)
    step = float(np.median(steps))
    _check_steps(steps, along, step, case_key)
    _check_tilt(positions[order], row, col, along, case_key)
    direction = np.stack([row, col, normal], axis=1)
    x, y, z = positions[order[0]]
    geometry = Geometry(
        spacing=(step, float(pixel_spacing[0]), float(pixel_spacing[1])),
        origin=(float(x), float(y), float(z)),
        direction=tuple(float(v) for v in direction.ravel()),
    )
    plane = orientation_name(normal)
    notes = (
        ()
        if plane == "axial"
        else (f"{plane} slices: axis 0 of the array follows the slice normal, not the body axis",)
    )
    return SliceLayout(order=order, geometry=geometry, notes=notes)


def _where(index: int, along: np.ndarray) -> str:
    return f"slice {index + 1} of {len(along)} (at {along[index]:.2f} mm along the normal)"


def _check_steps(steps: np.ndarray, along: np.ndarray, step: float, case_key: str) -> None:
    tol = max(SPACING_ATOL_MM, SPACING_RTOL * abs(step))
    duplicate = np.flatnonzero(steps <= tol)
    if duplicate.size:
        i = int(duplicate[0])
        raise DataError(
            case_key,
            f"mixed series: {duplicate.size + 1} slices share a position, e.g. "
            f"{_where(i, along)} and slice {i + 2}; the folder holds two acquisitions or "
            "duplicate files. Keep one copy per position, or split the acquisitions into "
            "separate series",
        )
    off = np.flatnonzero(np.abs(steps - step) > tol)
    if not off.size:
        return
    i = int(off[0])
    ratio = steps[i] / step
    if abs(ratio - round(ratio)) * step <= tol:
        missing = round(ratio) - 1
        raise DataError(
            case_key,
            f"missing slice: {missing} slice(s) missing between {_where(i, along)} and "
            f"slice {i + 2} ({steps[i]:.3f} mm step, {step:.3f} mm elsewhere; "
            f"{off.size} gap(s) in all). Export the complete series again",
        )
    raise DataError(
        case_key,
        f"uneven slice spacing: {steps[i]:.3f} mm after {_where(i, along)}, "
        f"{step:.3f} mm elsewhere ({off.size} uneven step(s)); expected one spacing. "
        "Resample the series onto a regular grid before import",
    )


def _check_tilt(
    positions: np.ndarray, row: np.ndarray, col: np.ndarray, along: np.ndarray, case_key: str
) -> None:
    shift = positions - positions[0]
    in_plane = np.stack([shift @ row, shift @ col], axis=1)
    worst = float(np.abs(in_plane).max())
    if worst <= TILT_ATOL_MM:
        return
    span = float(along[-1] - along[0])
    angle = float(np.degrees(np.arctan2(np.hypot(*in_plane[-1]), span)))
    raise DataError(
        case_key,
        f"gantry tilt of about {angle:.1f} degrees: slice origins shift {worst:.2f} mm "
        "inside the slice plane across the series, so the voxel grid is sheared. "
        "Resample to an orthogonal grid first (dcm2niix corrects gantry tilt; 3D Slicer "
        "offers 'acquisition geometry regularization')",
    )


def check_one_patient(series: Sequence[SliceHeader], case_key: str) -> None:
    """Refuse a series whose slices disagree on the patient (compared as hashes of
    PatientID, PatientName and PatientBirthDate: no value is read out or shown).

    Raises:
        DataError: naming the odd files by position (the minority of the series).
    """
    counts = Counter(s.patient for s in series)
    if len(counts) <= 1:
        return
    majority = counts.most_common(1)[0][0]
    odd = [s for s in series if s.patient != majority]
    files = ", ".join(f"file {s.index + 1}" for s in odd[:5]) + (", ..." if len(odd) > 5 else "")
    raise DataError(
        case_key,
        f"the slices disagree on the patient: {len(odd)} of {len(series)} files ({files}, "
        "in file-name order) carry another PatientID, PatientName or PatientBirthDate than "
        "the others (compared as hashes, not shown); remove the other patient's files or "
        "export the series again",
    )


def check_uniform(series: Sequence[SliceHeader], case_key: str) -> None:
    """Refuse slices that cannot share one grid: they come from different acquisitions.

    Raises:
        DataError: the slices disagree on the patient (:func:`check_one_patient`), a
            slice lacks position/orientation/pixel spacing, slices differ in
            image size, pixel format, orientation or pixel spacing (mixed series), or the
            pixel format is not one grey 8/16/32-bit frame per file.
    """
    total = len(series)
    check_one_patient(series, case_key)
    for label, get in (
        ("position (ImagePositionPatient)", lambda s: s.position),
        ("orientation (ImageOrientationPatient)", lambda s: s.orientation),
        ("pixel spacing (PixelSpacing)", lambda s: s.pixel_spacing),
    ):
        missing = [s for s in series if get(s) is None]
        if missing:
            raise DataError(
                case_key,
                f"file {missing[0].index + 1} has no {label}; "
                "the slice cannot be placed in the volume",
            )
    first = series[0]
    for label, get, close in (
        ("image size or pixel format", lambda s: s.image_format, np.array_equal),
        ("orientation", lambda s: s.orientation, lambda a, b: np.allclose(a, b, atol=1e-4)),
        ("pixel spacing", lambda s: s.pixel_spacing, lambda a, b: np.allclose(a, b, atol=1e-4)),
    ):
        odd = [s for s in series if get(s) != get(first) and not close(get(s), get(first))]
        if odd:
            raise DataError(
                case_key,
                f"mixed series: {len(odd)} of {total} slices differ in {label} "
                f"from the first (e.g. file {odd[0].index + 1} in the folder); "
                "the series mixes acquisitions",
            )
    _check_pixel_format(first, case_key)


def _check_pixel_format(first: SliceHeader, case_key: str) -> None:
    _rows, _cols, bits, stored, _sign, samples, frames = first.image_format
    if samples != 1 or frames != 1 or bits not in (8, 16, 32) or not 0 < stored <= bits:
        raise DataError(
            case_key,
            f"unsupported pixel format: {samples} sample(s) per pixel, {frames} frame(s), "
            f"{bits} bits allocated, {stored} stored; expected one grey 8/16/32-bit frame "
            "per file (convert enhanced multi-frame CT to single frames first)",
        )

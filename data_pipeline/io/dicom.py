"""DICOM CT series -> HU volume + geometry, checked: the entry of the DICOM readers.

Why one adapter (``io/``, the only package that imports pydicom): pydicom's API has
moved between major versions, and every identifier in a DICOM header (PatientName,
PatientID, dates, UIDs) enters the program here, so these modules are the one place
that must keep them in.

How a folder is read (headers first, so that nothing is decoded before it is checked):

1. :mod:`~data_pipeline.io.dicom_headers`: headers only (``stop_before_pixels``), in
   file-name order; truncated files are found here, non-DICOM files are ignored (a note
   names them).
2. :mod:`~data_pipeline.io.series_choice`: the CT series (``series_uid``, else the
   folder's only CT series; what else the folder holds is named in a note), then
   :mod:`~data_pipeline.io.series_layout`: one patient (compared as hashes), one image
   format, slice order along the normal, gaps, tilt.
3. :mod:`~data_pipeline.io.dicom_pixels`: a compressed transfer syntax needs an
   installed decoder; then the pixels go straight into one preallocated float32
   ``(Z, Y, X)`` array, rescaled slice by slice.

The case's pseudonymous key from its PatientID is :mod:`~data_pipeline.io.dicom_patient`.
Errors are ``DataError`` naming the case key and the file's position (``file 3 of 41``
in file-name order, or ``slice 12 of 40`` along the normal). pydicom's own exception
text is not chained into them, because it can quote file names or header values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.misc import is_dicom

from data_pipeline.io.dicom_headers import quiet_pydicom, read_folder
from data_pipeline.io.dicom_pixels import check_decoder, read_pixels
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.series_choice import select_series
from data_pipeline.io.series_layout import (
    SliceHeader,
    SliceLayout,
    check_uniform,
    layout_slices,
    orientation_name,
)

__all__ = [
    "CTVolume", "check_series", "header_values", "is_dicom_file", "read_datasets", "read_series",
    "series_files",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series in Hounsfield units on its voxel grid, without any identifier.

    Attributes:
        hu: ``(Z, Y, X)`` float32 HU; axis 0 follows the slice normal.
        geometry: spacing, origin and direction of the grid (``Geometry``).
        notes: non-fatal remarks for the cohort summary (series choice, orientation).
    """

    hu: np.ndarray
    geometry: Geometry
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        """Summarise the volume for tables and JSON: shape, spacing, HU range, notes."""
        direction = np.asarray(self.geometry.direction).reshape(3, 3)
        return {
            "slices": int(self.hu.shape[0]),
            "shape": tuple(int(s) for s in self.hu.shape),
            "spacing_mm": tuple(round(s, 4) for s in self.geometry.spacing),
            "orientation": orientation_name(direction[:, 2]),
            "hu_min": float(self.hu.min()),
            "hu_max": float(self.hu.max()),
            "notes": list(self.notes),
        }


def read_series(folder: Path, *, case_key: str, series_uid: str | None = None) -> CTVolume:
    """Read one CT series from a folder into a checked float32 HU volume.

    Args:
        folder: folder of DICOM files (one slice per file); other series may be present.
        case_key: pseudonymous key used in every message.
        series_uid: SeriesInstanceUID to read; default: the folder's only CT series.

    Returns:
        The HU volume, its geometry, and notes.

    Raises:
        DataError: the folder, a file or the series is unusable; see the module docstring.
    """
    with quiet_pydicom():
        ordered, layout, notes = _ordered_series(Path(folder), case_key, series_uid)
        check_decoder(ordered[0], case_key)
        hu = read_pixels(ordered, case_key)
    logger.debug("case %s: read %d slices %s", case_key, hu.shape[0], hu.shape[1:])
    return CTVolume(hu=hu, geometry=layout.geometry, notes=notes + tuple(layout.notes))


def check_series(folder: Path, *, case_key: str, series_uid: str | None = None) -> tuple[str, ...]:
    """Check a series by its headers alone, as :func:`read_series` does before decoding
    (files, series choice, modality, patient, format, layout, decoder); return its notes.

    For ``--dry-run``: every case is checked in seconds, no pixel is read.

    Raises:
        DataError: what :func:`read_series` would raise before reading pixels.
    """
    with quiet_pydicom():
        ordered, layout, notes = _ordered_series(Path(folder), case_key, series_uid)
        check_decoder(ordered[0], case_key)
    return notes + tuple(layout.notes)


def series_files(folder: Path, *, case_key: str, series_uid: str | None = None) -> list[Path]:
    """The files of the series :func:`read_series` reads, in its slice order.

    For writers that must reference the source images (a DICOM SEG of a prediction).
    """
    with quiet_pydicom():
        ordered, _, _ = _ordered_series(Path(folder), case_key, series_uid)
    return [header.path for header in ordered]


def _ordered_series(
    folder: Path, case_key: str, series_uid: str | None
) -> tuple[list[SliceHeader], SliceLayout, tuple[str, ...]]:
    """Choose the series, check it, and sort its slices along the slice normal."""
    headers, ignored, non_images = read_folder(folder, case_key)
    series, notes = select_series(headers, series_uid, case_key, non_images)
    if ignored:
        shown = ", ".join(ignored[:5]) + (", ..." if len(ignored) > 5 else "")
        notes = (*notes, f"ignored {len(ignored)} non-DICOM file(s): {shown}")
        logger.info("case %s: %s", case_key, notes[-1])
    check_uniform(series, case_key)
    first = series[0]
    orientation, spacing = first.orientation, first.pixel_spacing
    if orientation is None or spacing is None:  # check_uniform refuses such slices
        raise ValueError("a slice without orientation or pixel spacing passed check_uniform")
    layout = layout_slices(
        np.array([s.position for s in series], dtype=np.float64),
        np.array(orientation[:3]),
        np.array(orientation[3:]),
        (spacing[0], spacing[1]),
        case_key=case_key,
    )
    return [series[i] for i in layout.order], layout, tuple(notes)


def header_values(files: Iterable[Path], keywords: Sequence[str]) -> set[str]:
    """Every non-empty value of the elements ``keywords`` in the headers of ``files``, as text.

    For privacy checks: the identifiers a series holds, to search an output for them.
    Reads headers only.
    """
    values: set[str] = set()
    for file in files:
        ds = pydicom.dcmread(file, stop_before_pixels=True)
        values.update(str(ds[k].value) for k in keywords if k in ds and ds[k].value)
    return values


def read_datasets(paths: Sequence[Path]) -> list[pydicom.Dataset]:
    """Full pydicom datasets of ``paths`` (for DICOM writers that copy study context)."""
    return [pydicom.dcmread(path) for path in paths]


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM file (has the 'DICM' marker); for other readers' scans."""
    return is_dicom(path)

"""DICOM CT series -> HU volume + geometry, checked; the only module that imports pydicom.

Why one adapter: pydicom's API has moved between major versions, and every identifier
in a DICOM header (PatientName, PatientID, dates, UIDs) enters the program here, so this
file is the one place that must keep them in.

How a folder is read (two passes, so that nothing is decoded before it is checked):

1. Headers only (``stop_before_pixels``), in file-name order; hidden files and
   ``DICOMDIR`` are skipped, other non-DICOM files are errors, files without pixel data
   (reports, SEG objects) are left out. Truncated files are found here.
2. ``series_layout``: series selection (``series_uid``, else the CT series with most
   slices), modality, one image format, slice order along the normal, gaps, tilt.
   A compressed transfer syntax needs an installed decoder.
3. Pixels go straight into one preallocated float32 ``(Z, Y, X)`` array: each slice is
   read into a small buffer at its offset and rescaled in place with its own
   RescaleSlope/RescaleIntercept, in a few threads (file reads and NumPy release the
   GIL). Peak memory is the float32 volume plus a few slices.

Errors are ``DataError`` naming the case key and the file's position (``file 3 of 41``
in file-name order, or ``slice 12 of 40`` along the normal). pydicom's own exception
text is not chained into them, because it can quote file names or header values.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.misc import is_dicom
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from data_pipeline.cohort.pseudonym import case_key_from_patient_id
from data_pipeline.errors import DataError
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.series_layout import (
    SliceHeader,
    SliceLayout,
    check_uniform,
    layout_slices,
    orientation_name,
    select_series,
)

__all__ = [
    "CTVolume", "is_dicom_file", "key_names_patient", "patient_key", "read_datasets",
    "read_series", "series_files",
]

logger = logging.getLogger(__name__)

_NATIVE_SYNTAXES = {
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian,
}
_SKIPPED_NAMES = {"DICOMDIR"}
#: (keyword, default) of the pixel format, in ``SliceHeader.image_format`` order.
_FORMAT_TAGS = (
    ("Rows", 0), ("Columns", 0), ("BitsAllocated", 0), ("BitsStored", 0),
    ("PixelRepresentation", 0), ("SamplesPerPixel", 1), ("NumberOfFrames", 1),
)  # fmt: skip
_READ_THREADS = 4


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
        series_uid: SeriesInstanceUID to read; default: the CT series with most slices.

    Returns:
        The HU volume, its geometry, and notes.

    Raises:
        DataError: the folder, a file or the series is unusable; see the module docstring.
    """
    with warnings.catch_warnings():
        # pydicom's value warnings can quote header values (names, UIDs): keep them out.
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        ordered, layout, notes = _ordered_series(Path(folder), case_key, series_uid)
        _check_decoder(ordered[0], case_key)
        hu = _read_pixels(ordered, case_key)
    logger.debug("case %s: read %d slices %s", case_key, hu.shape[0], hu.shape[1:])
    return CTVolume(hu=hu, geometry=layout.geometry, notes=notes + tuple(layout.notes))


def series_files(folder: Path, *, case_key: str, series_uid: str | None = None) -> list[Path]:
    """The files of the series :func:`read_series` reads, in its slice order.

    For writers that must reference the source images (a DICOM SEG of a prediction).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        ordered, _, _ = _ordered_series(Path(folder), case_key, series_uid)
    return [header.path for header in ordered]


def _ordered_series(
    folder: Path, case_key: str, series_uid: str | None
) -> tuple[list[SliceHeader], SliceLayout, tuple[str, ...]]:
    """Choose the series, check it, and sort its slices along the slice normal."""
    series, notes = select_series(_read_headers(folder, case_key), series_uid, case_key)
    check_uniform(series, case_key)
    first = series[0]
    layout = layout_slices(
        np.array([s.position for s in series], dtype=np.float64),
        np.array(first.orientation[:3]),
        np.array(first.orientation[3:]),
        (first.pixel_spacing[0], first.pixel_spacing[1]),
        case_key=case_key,
    )
    return [series[i] for i in layout.order], layout, tuple(notes)


def read_datasets(paths: Sequence[Path]) -> list[pydicom.Dataset]:
    """Full pydicom datasets of ``paths`` (for DICOM writers that copy study context)."""
    return [pydicom.dcmread(path) for path in paths]


def _list_files(folder: Path, case_key: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(case_key, "DICOM folder not found; check the cohort's dicom path")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() not in _SKIPPED_NAMES
    )
    if not files:
        raise DataError(case_key, "the DICOM folder holds no files")
    return files


def _read_headers(folder: Path, case_key: str) -> list[SliceHeader]:
    files = _list_files(folder, case_key)
    values = _ValueCache()
    slices = [_read_header(path, i, len(files), values, case_key) for i, path in enumerate(files)]
    return [s for s in slices if s is not None]


class _ValueCache:
    """Convert each distinct raw header value once per series.

    Why: orientation, spacing, rescale, pixel format and the series UID repeat in every
    file of a series, and pydicom's value conversion costs about as much as parsing the
    file. Values stay raw bytes until asked for; equal bytes give the cached value.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[int, bytes], object] = {}

    def get(
        self,
        ds: pydicom.Dataset,
        keyword: str,
        convert: Callable[[Any], object],
        default: object = None,
    ) -> Any:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        element = ds.get_item(tag)
        if element is None:
            return default
        raw = element.value
        key = (tag, raw) if isinstance(raw, bytes) else None
        if key is not None and key in self._seen:
            return self._seen[key]
        value = ds[tag].value
        result = default if value is None or value == "" else convert(value)
        if key is not None:
            self._seen[key] = result
        return result


def _read_header(
    path: Path, index: int, total: int, values: _ValueCache, case_key: str
) -> SliceHeader | None:
    """Read one file's header; None for a DICOM object without pixel data."""
    where = f"file {index + 1} of {total} in the folder (sorted by name)"
    ds, pixels, size = _parse_header(path, where, case_key)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian))
    if pixels is None:
        sop_class = UID(str(ds.file_meta.get("MediaStorageSOPClassUID", "")))
        if "Rows" in ds or "Image Storage" in sop_class.name:  # an image that ends early
            raise DataError(
                case_key,
                f"{where} is truncated: its header ends before the pixel data; export it again",
            )
        return None  # not an image: a report, a SEG object, a presentation state
    image_format = tuple(values.get(ds, k, int, d) for k, d in _FORMAT_TAGS)
    native = syntax in _NATIVE_SYNTAXES
    expected = image_format[0] * image_format[1] * image_format[2] // 8
    value_tell, length = pixels
    if native and (length < expected or size < value_tell + expected):
        raise DataError(
            case_key,
            f"{where} is truncated: its pixel data hold {min(length, size - value_tell)} "
            f"of {expected} bytes; export it again",
        )
    return SliceHeader(
        index=index,
        path=path,
        series_uid=values.get(ds, "SeriesInstanceUID", str, ""),
        series_number=values.get(ds, "SeriesNumber", _int_or_none),
        modality=values.get(ds, "Modality", str, ""),
        localizer=values.get(ds, "ImageType", _is_localizer, False),
        position=values.get(ds, "ImagePositionPatient", _floats),
        orientation=values.get(ds, "ImageOrientationPatient", _floats),
        pixel_spacing=values.get(ds, "PixelSpacing", _floats),
        image_format=image_format,
        slope=values.get(ds, "RescaleSlope", float, 1.0) or 1.0,
        intercept=values.get(ds, "RescaleIntercept", float, 0.0),
        syntax=syntax,
        pixel_offset=value_tell if native else None,
    )


def _parse_header(
    path: Path, where: str, case_key: str
) -> tuple[pydicom.Dataset, tuple[int, int] | None, int]:
    """Parse up to the pixel data; return the dataset, (offset, length) of it, file size."""
    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            elements = data_element_generator(fp, *ds.original_encoding, defer_size=0)
            element = next(elements, None)  # the element dcmread stopped at, value unread
            size = os.fstat(fp.fileno()).st_size
    except InvalidDicomError:
        raise DataError(
            case_key, f"{where} is not a DICOM file (no 'DICM' marker); remove it from the folder"
        ) from None
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(
            case_key,
            f"{where} is corrupt or truncated ({type(err).__name__} while reading the "
            "header); export it again",
        ) from None
    if element is None or element.tag != 0x7FE00010:
        return ds, None, size
    return ds, (element.value_tell, element.length), size


def _is_localizer(image_type: object) -> bool:
    parts = [image_type] if isinstance(image_type, str) else list(image_type)  # type: ignore[call-overload]
    return "LOCALIZER" in [str(v).upper() for v in parts]


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload] - pydicom IS/DS values
    except (TypeError, ValueError):
        return None


def _floats(value: object) -> tuple[float, ...]:
    return tuple(float(v) for v in value)  # type: ignore[attr-defined] - MultiValue


def _check_decoder(first: SliceHeader, case_key: str) -> None:
    """Refuse compressed pixel data early when no installed package can decode them."""
    syntax = UID(first.syntax)
    if first.pixel_offset is None and not get_decoder(syntax).is_available:
        raise DataError(
            case_key,
            f"pixel data are compressed with {syntax.name} and no decoder is installed; "
            f"install one: pip install {_install_hint(syntax)}",
        )


def _install_hint(syntax: UID) -> str:
    if syntax == pydicom.uid.RLELossless:
        return "pylibjpeg pylibjpeg-rle"
    if "2000" in syntax.name:
        return "pylibjpeg pylibjpeg-openjpeg  (or: pip install python-gdcm)"
    return "pylibjpeg pylibjpeg-libjpeg  (or: pip install python-gdcm)"


def _read_pixels(ordered: Sequence[SliceHeader], case_key: str) -> np.ndarray:
    rows, cols = ordered[0].image_format[:2]
    hu = np.empty((len(ordered), rows, cols), dtype=np.float32)
    chunks = [c for c in np.array_split(np.arange(len(ordered)), _READ_THREADS) if c.size]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        ranges = list(pool.map(lambda c: _fill(ordered, c, hu, case_key), chunks))
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    if low == high:
        raise DataError(
            case_key,
            f"all-zero scan: every voxel is {low:g} HU; the pixel data are blank "
            "(an export or anonymisation step emptied them)",
        )
    return hu


def _fill(
    ordered: Sequence[SliceHeader], indices: np.ndarray, hu: np.ndarray, case_key: str
) -> tuple[float, float]:
    """Read slices ``indices`` into ``hu`` in place; return the HU range they cover."""
    first = ordered[0]
    rows, cols, bits, stored, signed = first.image_format[:5]
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    if first.syntax == pydicom.uid.ExplicitVRBigEndian:
        dtype = dtype.newbyteorder(">")
    buffer = np.empty((rows, cols), dtype=dtype)
    low, high = np.inf, -np.inf
    for z in indices:
        s = ordered[int(z)]
        where = f"slice {int(z) + 1} of {len(ordered)} (file {s.index + 1} in the folder)"
        stored_values = _load_stored(s, buffer, where, case_key)
        if stored < bits:  # ignore the unused high bits; sign-extend signed values
            shift = bits - stored
            stored_values = (stored_values << shift) >> shift
        out = hu[int(z)]
        np.copyto(out, stored_values, casting="unsafe")
        if s.slope != 1.0:
            out *= np.float32(s.slope)
        out += np.float32(s.intercept)
        ends = [
            float(v) * s.slope + s.intercept for v in (stored_values.min(), stored_values.max())
        ]
        low, high = min(low, *ends), max(high, *ends)  # a negative slope swaps the ends
    return low, high


def _load_stored(s: SliceHeader, buffer: np.ndarray, where: str, case_key: str) -> np.ndarray:
    try:
        if s.pixel_offset is not None:
            with open(s.path, "rb", buffering=0) as fp:
                fp.seek(s.pixel_offset)
                got = fp.readinto(memoryview(buffer).cast("B"))
            if got != buffer.nbytes:
                raise EOFError
            return buffer
        arr = pydicom.dcmread(s.path).pixel_array
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as err:
        raise DataError(
            case_key,
            f"{where}: pixel data could not be read or decoded "
            f"({type(err).__name__}); export the series again",
        ) from None
    if arr.shape != buffer.shape:
        raise DataError(
            case_key, f"{where}: decoded {arr.shape} pixels, the header says {buffer.shape}"
        )
    return arr


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM file (has the 'DICM' marker); for other readers' scans."""
    return is_dicom(path)


def _first_header(folder: Path, case_key: str, tags: list[str]) -> pydicom.Dataset:
    for i, path in enumerate(files := _list_files(Path(folder), case_key)):
        try:
            return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            logger.debug(
                "case %s: file %d of %d unreadable, trying the next", case_key, i + 1, len(files)
            )
    raise DataError(case_key, "no readable DICOM file in the folder")


def patient_key(folder: Path, *, salt: bytes, case_key: str = "(unnamed)") -> str:
    """Derive the pseudonymous key of a DICOM folder from its PatientID (keyed hash).

    The PatientID is read here and never returned: only its HMAC leaves this module.

    Args:
        folder: a DICOM folder of one patient.
        salt: the cohort's secret salt (see ``data_pipeline.cohort.pseudonym.load_salt``).
        case_key: a placeholder name for the error messages (e.g. ``row 3``).

    Raises:
        DataError: no readable DICOM file, or no PatientID in it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        patient_id = str(_first_header(folder, case_key, ["PatientID"]).get("PatientID", ""))
    if not patient_id.strip():
        raise DataError(case_key, "the DICOM files have no PatientID to derive a key from")
    return case_key_from_patient_id(patient_id, salt)


def key_names_patient(folder: Path, key: str) -> bool:
    """Whether ``key`` repeats the PatientID or a PatientName part of the folder's files.

    Used by the cohort loader to refuse a case key that would put an identifier into
    every log line. A folder that cannot be read answers False (the loader reports it
    later, under its key).
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
            ds = _first_header(folder, key, ["PatientID", "PatientName"])
    except DataError:
        return False
    needle = key.strip().lower()
    found = [str(ds.get("PatientID", ""))]
    found += [str(p) for p in str(ds.get("PatientName", "")).replace("^", " ").split()]
    return any(len(v) >= 3 and v.strip().lower() in needle for v in found)

"""Pass 1 of reading a DICOM folder: every file's header, up to its pixel data.

Why apart: this pass decides what is a usable image before any pixel is decoded. Files
are read in file-name order; hidden files and ``DICOMDIR`` are skipped, other files
without the DICOM marker are ignored and counted (named in a note: an export's
``notes.txt``), DICOM files without pixel data (an RT structure set, a report) are
returned by name and Modality (the series choice names them in its note), and
truncated files are found here by comparing the pixel data's length with the image
format. Each distinct raw header value is converted once per series (``_ValueCache``).
Each header's patient identity (PatientID, PatientName, PatientBirthDate) is kept only
as a hash, so that a series whose slices disagree on the patient is refused
(:func:`~data_pipeline.io.series_layout.check_uniform`) without any value being shown.

Errors are ``DataError`` naming the case key, the file's name and its position (``file 3
of 41`` in file-name order). pydicom's own exception text is not chained into them,
because it can quote header values.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.uid import UID

from data_pipeline.errors import DataError
from data_pipeline.io.series_choice import NonImage
from data_pipeline.io.series_layout import SliceHeader

__all__ = ["list_files", "quiet_pydicom", "read_folder", "read_headers"]

_NATIVE_SYNTAXES = {
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian,
}
"""Uncompressed transfer syntaxes: their pixel data are read straight from the file."""
_SKIPPED_NAMES = {"DICOMDIR"}
_PATIENT_TAGS = ("PatientID", "PatientName", "PatientBirthDate")
"""What says whose a slice is: compared between slices as a hash, never shown."""
_NOT_DICOM = object()
"""What :func:`_read_header` returns for a file without the DICOM marker (ignored)."""
#: (keyword, default) of the pixel format, in ``SliceHeader.image_format`` order.
_FORMAT_TAGS = (
    ("Rows", 0), ("Columns", 0), ("BitsAllocated", 0), ("BitsStored", 0),
    ("PixelRepresentation", 0), ("SamplesPerPixel", 1), ("NumberOfFrames", 1),
)  # fmt: skip


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings while reading: their text can quote header values
    (names, UIDs), which must not reach a log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        yield


def list_files(folder: Path, case_key: str) -> list[Path]:
    """The candidate files of a DICOM folder, sorted by name (hidden files, DICOMDIR skipped)."""
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


def read_headers(folder: Path, case_key: str) -> list[SliceHeader]:
    """The header of every image file in ``folder``, in file-name order (files without
    the DICOM marker ignored: :func:`read_folder` names them).

    Raises:
        DataError: a missing or empty folder, a corrupt or a truncated DICOM file.
    """
    return read_folder(folder, case_key)[0]


def read_folder(
    folder: Path, case_key: str
) -> tuple[list[SliceHeader], list[str], list[NonImage]]:
    """The header of every image file in ``folder`` in file-name order, the names of the
    files ignored because they are not DICOM (no 'DICM' marker), and the DICOM files
    without pixel data.

    Raises:
        DataError: a missing or empty folder, a corrupt or a truncated DICOM file.
    """
    files = list_files(folder, case_key)
    values = _ValueCache()
    found = [_read_header(path, i, len(files), values, case_key) for i, path in enumerate(files)]
    ignored = [path.name for path, f in zip(files, found, strict=True) if f is _NOT_DICOM]
    return ([f for f in found if isinstance(f, SliceHeader)], ignored,
            [f for f in found if isinstance(f, NonImage)])


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
        if tag is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword")
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
) -> SliceHeader | NonImage | object:
    """Read one file's header; a :class:`NonImage` for a DICOM object without pixel
    data, :data:`_NOT_DICOM` for a file without the DICOM marker."""
    where = f"{path.name}: file {index + 1} of {total} in the folder (sorted by name)"
    parsed = _parse_header(path, where, case_key)
    if parsed is None:
        return _NOT_DICOM
    ds, pixels, size = parsed
    syntax = str(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian))
    if pixels is None:
        sop_class = UID(str(ds.file_meta.get("MediaStorageSOPClassUID", "")))
        if "Rows" in ds or "Image Storage" in sop_class.name:  # an image that ends early
            raise DataError(
                case_key,
                f"{where} is truncated: its header ends before the pixel data; export it again",
            )
        # not an image: an RT structure set, a report, a presentation state
        return NonImage(path.name, values.get(ds, "Modality", str, ""))
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
        patient=_patient_digest(ds),
    )


def _patient_digest(ds: pydicom.Dataset) -> str:
    """A hash of the header's patient identity: equal for slices of one patient."""
    values = "\x00".join(str(ds.get(keyword, "") or "").strip() for keyword in _PATIENT_TAGS)
    return hashlib.sha256(values.encode()).hexdigest()[:16]


def _parse_header(
    path: Path, where: str, case_key: str
) -> tuple[pydicom.Dataset, tuple[int, int] | None, int] | None:
    """Parse up to the pixel data; return the dataset, (offset, length) of it, file size;
    None for a file that is not DICOM (no 'DICM' marker)."""
    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            implicit_vr, little_endian = ds.original_encoding
            if implicit_vr is None or little_endian is None:  # set for any dataset read
                raise ValueError("the header's transfer syntax is unknown")
            elements = data_element_generator(fp, implicit_vr, little_endian, defer_size=0)
            element = next(elements, None)  # the element dcmread stopped at, value unread
            size = os.fstat(fp.fileno()).st_size
    except InvalidDicomError:
        return None
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(
            case_key,
            f"{where} is corrupt or truncated ({type(err).__name__} while reading the "
            "header); export it again",
        ) from None
    if element is None or element.tag != 0x7FE00010:
        return ds, None, size
    if not isinstance(element, RawDataElement):  # pydicom parses only sequences eagerly
        raise DataError(
            case_key, f"{where} holds a sequence where its pixel data should be; export it again"
        )
    return ds, (element.value_tell, element.length), size


# The converters take an element's value as pydicom types it (Any): a str, an int or
# float subclass (IS, DS), or a MultiValue of those.


def _is_localizer(image_type: Any) -> bool:
    parts = [image_type] if isinstance(image_type, str) else list(image_type)
    return "LOCALIZER" in [str(v).upper() for v in parts]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)

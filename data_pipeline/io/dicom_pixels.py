"""The last pass of reading a DICOM series: pixels into one float32 HU volume.

Why apart: this is the hot path (seconds for a 400-slice series) and the only place that
decodes. Pixels go straight into one preallocated float32 ``(Z, Y, X)`` array: each
slice is read into a small buffer at its offset and rescaled in place with its own
RescaleSlope/RescaleIntercept, in a few threads (file reads and NumPy release the GIL).
Peak memory is the float32 volume plus a few slices. A compressed transfer syntax needs
an installed decoder, checked before the first slice is read.

Errors are ``DataError`` naming the case key and the slice's position (``slice 12 of
40`` along the normal); pydicom's own exception text is not chained into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from data_pipeline.errors import DataError
from data_pipeline.io.series_layout import SliceHeader

__all__ = ["check_decoder", "read_pixels"]

_READ_THREADS = 4


def check_decoder(first: SliceHeader, case_key: str) -> None:
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


def read_pixels(ordered: Sequence[SliceHeader], case_key: str) -> np.ndarray:
    """Read the slices ``ordered`` along the normal into a float32 HU ``(Z, Y, X)`` volume.

    Raises:
        DataError: a slice that cannot be read or decoded, or an all-zero scan.
    """
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
                got = fp.readinto(buffer.data.cast("B"))
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

"""A CT volume written as a scanner exports it: one DICOM file per axial slice.

Why in ``io/``: pydicom is imported by this package only. The caller decides what a
series says (identifiers, descriptive elements, file names); this module writes what
makes it a CT Image Storage series that any reader takes: 12-bit stored values
``HU + 1024`` with ``RescaleIntercept -1024``, the grid's spacing and positions, and a
SOP Instance UID per slice derived from the caller's entropy, so that the same
arguments give the same bytes. Used by the synthetic cohort
(:mod:`data_pipeline.synthetic.generator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid
from tqdm import tqdm

from data_pipeline.io.geometry import Geometry

__all__ = ["derived_uid", "write_ct_series"]

_AXIAL = Geometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)).direction
_PROGRESS_SLICES = 128  # a progress bar for series at least this long


def derived_uid(entropy: Sequence[str]) -> UID:
    """A DICOM UID under pydicom's root that is a pure function of ``entropy``."""
    return generate_uid(entropy_srcs=list(entropy))


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    geometry: Geometry,
    header: Mapping[str, object],
    names: Sequence[str],
    *,
    uid_entropy: Sequence[str],
    progress: bool = False,
) -> None:
    """Write ``hu`` ``(Z, Y, X)`` as one file per slice, slice ``k`` under ``names[k]``.

    Cost: one small file write per slice; the stored values are converted once.

    Args:
        folder: an existing folder.
        hu: integer Hounsfield units; values outside [-1024, 3071] are clipped (12 bits).
        geometry: the grid; axial only (identity direction), slices ``spacing[0]`` mm apart.
        header: elements every slice carries (keyword -> value), e.g. patient and study.
        names: one file name per slice, in slice order.
        uid_entropy: what each SOP Instance UID is derived from, with the slice index.
        progress: show a progress bar on stderr for long series.

    Raises:
        ValueError: a non-axial grid, or not one name per slice.
    """
    if tuple(geometry.direction) != _AXIAL:
        raise ValueError(f"write_ct_series writes axial series, got direction {geometry.direction}")
    if len(names) != hu.shape[0]:
        raise ValueError(f"{len(names)} file names for {hu.shape[0]} slices; give one per slice")
    ds = _series_template(header, geometry, hu.shape)
    stored = np.clip(hu.astype(np.int32) + 1024, 0, 4095).astype("<u2")
    x, y, z0 = geometry.origin
    bar = progress and len(names) >= _PROGRESS_SLICES
    for k in tqdm(range(len(names)), desc="slices", leave=False, disable=not bar):
        z = round(z0 + k * geometry.spacing[0], 4)
        uid = derived_uid([*uid_entropy, str(k)])
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [x, y, z]
        ds.SliceLocation = z
        ds.PixelData = stored[k].tobytes()
        ds.save_as(Path(folder) / names[k], enforce_file_format=True)


def _series_template(
    header: Mapping[str, object], geometry: Geometry, shape: tuple[int, ...]
) -> Dataset:
    """The elements shared by every slice of a series; per-slice elements come later."""
    ds = Dataset()
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [geometry.spacing[1], geometry.spacing[2]]
    ds.SpacingBetweenSlices = geometry.spacing[0]
    ds.Rows, ds.Columns = shape[1], shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds

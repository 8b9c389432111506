"""Cohort description -> case references -> checked, pseudonymised cases in memory.

A cohort is described by a manifest (YAML or CSV), a folder layout or an nnU-Net
dataset; :mod:`data_pipeline.cohort.manifest` reads any of them into rows, and
``load_cohort`` turns the rows into case references. Paths are relative to the
manifest's folder.

Case keys must be pseudonymous: either the given key / folder name (``keys="given"``),
or ``keys="patient_id"``: ``p-`` + a keyed hash (HMAC-SHA256) of the DICOM PatientID
with the cohort's secret salt (``data_pipeline.cohort.pseudonym``; the PatientID never
leaves ``io/dicom_patient.py``). A given key that repeats the PatientID or a PatientName
part is refused. A volume file has no PatientID: its cases keep their given keys (nnU-Net
case identifiers), which must be pseudonyms.

Loading is per case: ``load_case`` raises ``DataError``; ``load_cases`` collects the good
cases and a ``key -> problem`` summary of the bad ones, so that one broken export never
stops a cohort.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from data_pipeline.cohort.manifest import CohortError, Row, read_rows
from data_pipeline.cohort.pseudonym import case_key_from_patient_id, load_salt
from data_pipeline.errors import DataError
from data_pipeline.io.dicom import CTVolume, check_series, read_series
from data_pipeline.io.dicom_patient import key_names_patient, patient_key
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.hu_check import check_hounsfield
from data_pipeline.io.labels import read_mask
from data_pipeline.io.volume_io import check_volume_header, is_volume_file, read_volume

__all__ = [
    "Case",
    "CaseRef",
    "CohortError",
    "case_key_from_patient_id",
    "check_case_headers",
    "check_cohort_headers",
    "iter_cases",
    "load_case",
    "load_cases",
    "load_cohort",
    "read_ct",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are; what ``load_case`` needs.

    Attributes:
        key: pseudonymous case key.
        image: the CT: a folder with a DICOM series, or a NIfTI/NRRD/MHA volume file.
        mask_path: lesion mask file (or DICOM SEG folder); None for an image-only case.
        series_uid: which series to read when the folder holds several (kept out of repr).
        label: which mask label/segment is lesion (see ``data_pipeline.io.labels``).
    """

    key: str
    image: Path
    mask_path: Path | None
    series_uid: str | None = field(default=None, repr=False)
    label: int | str | None = None

    @property
    def dicom_dir(self) -> Path:
        """The CT's path under its older name (a DICOM folder or, now, a volume file)."""
        return self.image

    @property
    def is_dicom(self) -> bool:
        """Whether the CT is a DICOM series (not a volume file)."""
        return not is_volume_file(self.image)


@dataclass(frozen=True, eq=False)
class Case:
    """One loaded case: HU volume and lesion mask on the same grid, no identifiers.

    Attributes:
        key: pseudonymous case key.
        hu: ``(Z, Y, X)`` float32 Hounsfield units.
        lesion: ``(Z, Y, X)`` uint8 0/1.
        geometry: the shared voxel grid.
        notes: non-fatal remarks from the readers (series choice, orientation).
    """

    key: str
    hu: np.ndarray
    lesion: np.ndarray
    geometry: Geometry
    notes: tuple[str, ...] = ()


def load_cohort(
    path: Path, *, keys: Literal["given", "patient_id"] = "given", salt: bytes | None = None
) -> list[CaseRef]:
    """Read a cohort description into case references (no pixel data is read).

    Args:
        path: a ``cohort.yaml``/``.csv`` manifest, a folder holding one, an nnU-Net
            dataset or a folder layout (:mod:`data_pipeline.cohort.manifest`).
        keys: ``"given"`` uses the manifest key or case folder name; ``"patient_id"``
            derives ``p-<hmac>`` keys from the DICOM PatientID.
        salt: the cohort secret for ``keys="patient_id"``; default ``load_salt()``.

    Raises:
        CohortError: unreadable or invalid manifest (names the file, row and field),
            an ambiguous case folder, duplicate keys, or keys that name the patient.
    """
    path = Path(path)
    rows, base = read_rows(path)
    refs = [_ref(row, base, i, keys, salt) for i, row in enumerate(rows)]
    _check_keys(refs, keys)
    logger.info("cohort %s: %d cases", path.name, len(refs))
    return refs


def load_case(ref: CaseRef) -> Case:
    """Load one case: read and check the series, put the mask on its grid.

    Raises:
        DataError: anything wrong with this case's files, naming the key and the problem.
    """
    volume = read_ct(ref)
    if ref.mask_path is None:
        raise DataError(ref.key, "no lesion mask for this case; add one to the cohort")
    lesion = read_mask(
        ref.mask_path, volume.geometry, volume.hu.shape, case_key=ref.key, label=ref.label
    )
    return Case(
        key=ref.key, hu=volume.hu, lesion=lesion, geometry=volume.geometry, notes=volume.notes
    )


def read_ct(ref: CaseRef) -> CTVolume:
    """The checked HU volume of a case: its DICOM series, or its volume file.

    Raises:
        DataError: the series or file is unusable (see ``dicom`` and ``volume_io``), or
            its values are not Hounsfield units (``io.hu_check``, for both).
    """
    if ref.is_dicom:
        volume = read_series(ref.image, case_key=ref.key, series_uid=ref.series_uid)
        # The same check as a volume file's (issue 28): air and bone after the rescale.
        check_hounsfield(volume.hu, case_key=ref.key, source="the DICOM series")
        return volume
    return read_volume(ref.image, case_key=ref.key)


def check_case_headers(ref: CaseRef) -> tuple[str, ...]:
    """Check a case without reading pixels (``--dry-run``): the CT's headers as
    :func:`read_ct` checks them first, then that its mask file exists; return the notes.

    Raises:
        DataError: the first problem :func:`load_case` would meet before any pixel.
    """
    if ref.is_dicom:
        notes = check_series(ref.image, case_key=ref.key, series_uid=ref.series_uid)
    else:
        notes = check_volume_header(ref.image, case_key=ref.key)
    if ref.mask_path is None:
        raise DataError(ref.key, "no lesion mask for this case; add one to the cohort")
    if not ref.mask_path.exists():
        raise DataError(ref.key, f"lesion mask {ref.mask_path.name} not found; check the "
                        "cohort's mask path")
    return notes


def check_cohort_headers(
    refs: Iterable[CaseRef],
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Check every case by its headers (:func:`check_case_headers`, no pixel read).

    What ``--dry-run`` and a sweep's pre-flight report, in the words ``inspect`` shows:
    the cases that cannot be used, and the notes of the others (what a case folder holds
    besides its CT series: a scout, an RT structure set, another modality).

    Returns:
        ``key -> problem`` of the unusable cases, ``key -> notes`` of the usable cases
        that have notes.
    """
    problems: dict[str, str] = {}
    notes: dict[str, tuple[str, ...]] = {}
    for ref in refs:
        try:
            found = check_case_headers(ref)
        except DataError as err:
            problems[ref.key] = err.problem
            continue
        if found:
            notes[ref.key] = found
    return problems, notes


def iter_cases(
    refs: Iterable[CaseRef], *, progress: bool = True
) -> Iterator[tuple[CaseRef, Case | DataError]]:
    """Load cases one at a time, yielding each case or its ``DataError``.

    One case in memory at a time: use this (not ``load_cases``) to scan big cohorts.
    The progress bar goes to stderr and only on a terminal.
    """
    refs = list(refs)
    for ref in tqdm(refs, desc="loading cases", unit="case", disable=None if progress else True):
        try:
            yield ref, load_case(ref)
        except DataError as err:
            logger.warning("%s", err)
            yield ref, err


def load_cases(
    refs: Iterable[CaseRef], *, progress: bool = True
) -> tuple[list[Case], dict[str, str]]:
    """Load every case; return the good ones and ``key -> problem`` for the bad ones."""
    good: list[Case] = []
    bad: dict[str, str] = {}
    for ref, result in iter_cases(refs, progress=progress):
        if isinstance(result, DataError):
            bad[ref.key] = result.problem
        else:
            good.append(result)
    return good, bad


def _ref(row: Row, base: Path, index: int, keys: str, salt: bytes | None) -> CaseRef:
    dicom = row.ct if row.ct.is_absolute() else base / row.ct
    mask = None if row.mask is None else (row.mask if row.mask.is_absolute() else base / row.mask)
    if keys == "patient_id" and is_volume_file(dicom):
        raise CohortError(f"row {index + 1}: keys='patient_id' needs a DICOM series, but the "
                          "CT is a volume file (no PatientID); give the case keys instead")
    if keys == "patient_id":
        try:
            key = patient_key(
                dicom, salt=salt if salt is not None else load_salt(), case_key=f"row {index + 1}"
            )
        except DataError as err:
            raise CohortError(f"cannot derive the key of {err.case_key}: {err.problem}") from None
    elif row.key is None:
        raise CohortError(
            f"row {index + 1}: no valid case key (letters, digits, '.', '_', '-'; "
            "at most 64); rename the case folder, give a key, or use "
            "keys='patient_id'"
        )
    else:
        key = row.key
    return CaseRef(
        key=key, image=dicom, mask_path=mask, series_uid=row.series_uid, label=row.label
    )


def _check_keys(refs: list[CaseRef], keys: str) -> None:
    """Refuse keys that name the patient (checked first: the key is not printed) or repeat."""
    if keys == "given":
        named = [i + 1 for i, ref in enumerate(refs)
                 if ref.is_dicom and key_names_patient(ref.image, ref.key)]
        if named:
            raise CohortError(
                f"rows {named}: the case key repeats the patient's DICOM PatientID or name; "
                "rename the case (folder) to a pseudonym, or use keys='patient_id'"
            )
    seen: dict[str, int] = {}
    for i, ref in enumerate(refs):
        if ref.key in seen:
            raise CohortError(
                f"rows {seen[ref.key] + 1} and {i + 1} have the same case key "
                f"{ref.key!r} (the same patient twice?); keys must be unique"
            )
        seen[ref.key] = i

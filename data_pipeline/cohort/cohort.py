"""Cohort description -> case references -> checked, pseudonymised cases in memory.

A cohort is described in one of four ways (``load_cohort`` takes any of them):

1. a manifest ``cohort.yaml``::

       version: 1
       cases:
         - {key: case-000, dicom: case-000/dicom, mask: case-000/lesion.nii.gz}
         - {key: case-001, dicom: scans/b, mask: masks/b.seg.nrrd, label: lesion,
            series_uid: "1.2.3..."}   # optional per case
         - {key: case-002, image: nifti/c_ct.nii.gz, mask: nifti/c_lesion.nii.gz}

   ``dicom`` names a DICOM series folder, ``image`` a CT volume file (NIfTI, NRRD or
   MHA, :mod:`data_pipeline.io.volume_io`); a row gives one of them;
2. a manifest CSV with the header ``key,dicom,mask[,series_uid,label]`` (or ``image``);
3. a folder layout ``COHORT/<case>/`` holding a ``dicom/`` folder (or one sub-folder),
   or a CT volume file named ``ct.*``/``image.*``, and at most one mask file (``.nii``,
   ``.nii.gz``, ``.nrrd``, ``.seg.nrrd``, ``.dcm``). A folder with a ``cohort.yaml`` or
   ``cohort.csv`` is read as that manifest;
4. an nnU-Net v2 raw dataset (a folder with ``dataset.json``; its ``imagesTs`` folder
   gives the test cases), :mod:`data_pipeline.io.nnunet_dataset`.

Paths are relative to the manifest's folder. Case keys must be pseudonymous: either the
given key / folder name (``keys="given"``), or ``keys="patient_id"``: ``p-`` + a keyed
hash (HMAC-SHA256) of the DICOM PatientID with the cohort's secret salt
(``data_pipeline.cohort.pseudonym``; the PatientID never leaves ``dicom.py``). A given key that
repeats the PatientID or a PatientName part is refused. A volume file has no PatientID:
its cases keep their given keys (nnU-Net case identifiers), which must be pseudonyms.

Loading is per case: ``load_case`` raises ``DataError``; ``load_cases`` collects the good
cases and a ``key -> problem`` summary of the bad ones, so that one broken export never
stops a cohort.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from tqdm import tqdm

from data_pipeline.cohort.pseudonym import case_key_from_patient_id, load_salt
from data_pipeline.errors import DataError
from data_pipeline.io.dicom import CTVolume, read_series
from data_pipeline.io.dicom_patient import key_names_patient, patient_key
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.labels import MASK_SUFFIXES, read_mask
from data_pipeline.io.nnunet_dataset import (
    NnunetDatasetError,
    is_nnunet_dataset,
    is_nnunet_test_folder,
    read_nnunet_dataset,
)
from data_pipeline.io.volume_io import is_volume_file, read_volume

__all__ = [
    "Case",
    "CaseRef",
    "CohortError",
    "case_key_from_patient_id",
    "iter_cases",
    "load_case",
    "load_cases",
    "load_cohort",
    "read_ct",
]

logger = logging.getLogger(__name__)

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MANIFEST_NAMES = ("cohort.yaml", "cohort.yml", "cohort.csv")
CT_FILE_STEMS = ("ct", "image")
"""In a folder layout, a case's CT volume file is ``ct.*`` or ``image.*`` (any volume suffix)."""


class CohortError(ValueError):
    """The cohort description (manifest or folder layout) is unusable as a whole."""


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


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    dicom: Path | None = None
    image: Path | None = None
    mask: Path | None = None
    series_uid: str | None = None
    label: int | str | None = None

    @model_validator(mode="after")
    def _one_ct(self) -> _Row:
        if (self.dicom is None) == (self.image is None):
            raise PydanticCustomError("one_ct", "give the CT as 'dicom' (a DICOM series "
                                      "folder) or as 'image' (a NIfTI/NRRD/MHA file), "
                                      "exactly one of them")
        return self

    @property
    def ct(self) -> Path:
        return self.dicom if self.dicom is not None else self.image  # type: ignore[return-value]


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    generator: dict[str, object] | None = None  # written by data_pipeline.synthetic.generator; ignored
    cases: list[_Row] = Field(min_length=1)


def load_cohort(
    path: Path, *, keys: Literal["given", "patient_id"] = "given", salt: bytes | None = None
) -> list[CaseRef]:
    """Read a cohort description into case references (no pixel data is read).

    Args:
        path: a ``cohort.yaml``/``.csv`` manifest, a folder holding one, or a folder
            layout (see the module docstring).
        keys: ``"given"`` uses the manifest key or case folder name; ``"patient_id"``
            derives ``p-<hmac>`` keys from the DICOM PatientID.
        salt: the cohort secret for ``keys="patient_id"``; default ``load_salt()``.

    Raises:
        CohortError: unreadable or invalid manifest (names the file, row and field),
            an ambiguous case folder, duplicate keys, or keys that name the patient.
    """
    path = Path(path)
    manifest = _find_manifest(path)
    if manifest is not None:
        rows, base = _read_manifest(manifest), manifest.parent
    elif is_nnunet_dataset(path) or is_nnunet_test_folder(path):
        rows, base = _nnunet_rows(path), path
    elif path.is_dir():
        rows, base = _scan_layout(path), path
    else:
        raise CohortError(f"{path} is neither a cohort manifest (.yaml/.csv) nor a folder")
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
        DataError: the series or file is unusable (see ``dicom`` and ``volume_io``).
    """
    if ref.is_dicom:
        return read_series(ref.image, case_key=ref.key, series_uid=ref.series_uid)
    return read_volume(ref.image, case_key=ref.key)


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


def _find_manifest(path: Path) -> Path | None:
    if path.is_file():
        return path
    found = [path / name for name in MANIFEST_NAMES if (path / name).is_file()]
    if len(found) > 1:
        names = ", ".join(f.name for f in found)
        raise CohortError(f"{path} holds {len(found)} manifests ({names}); keep one")
    return found[0] if found else None


def _read_manifest(path: Path) -> list[_Row]:
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                raw = {"version": 1, "cases": [_csv_row(r) for r in csv.DictReader(fh)]}
        elif path.suffix.lower() in (".yaml", ".yml"):
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            raise CohortError(f"{path.name}: expected a .yaml, .yml or .csv manifest")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, csv.Error) as err:
        raise CohortError(f"{path}: cannot read the manifest ({err})") from err
    try:
        return _Manifest.model_validate(raw).cases
    except ValidationError as err:
        raise CohortError(f"{path}: invalid manifest:\n{_explain(err, raw)}") from None


def _csv_row(row: dict[str, str | None]) -> dict[str, object]:
    cleaned = {k.strip(): (v.strip() if v else None) or None for k, v in row.items() if k}
    label = cleaned.get("label")
    if isinstance(label, str) and label.lstrip("-").isdigit():
        cleaned["label"] = int(label)
    return cleaned


def _explain(err: ValidationError, raw: object) -> str:
    """Turn pydantic errors into one line per problem: ``cases[3] (key 'x').dicom: ...``."""
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
            row = raw["cases"][loc[1]] if isinstance(raw, dict) else None  # type: ignore[index]
            key = row.get("key") if isinstance(row, dict) else None
            where = f"cases[{loc[1]}] (row {loc[1] + 1}{f', key {key!r}' if key else ''})" + (
                "." + ".".join(str(p) for p in loc[2:]) if loc[2:] else ""
            )
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def _nnunet_rows(path: Path) -> list[_Row]:
    """Rows of an nnU-Net dataset (training cases) or of its ``imagesTs`` folder (test)."""
    test = is_nnunet_test_folder(path)
    try:
        cases = read_nnunet_dataset(path.parent if test else path,
                                    split="test" if test else "train")
    except NnunetDatasetError as err:
        raise CohortError(str(err)) from None
    rows = []
    for case in cases:
        if not _valid_key(case.key):
            raise CohortError(f"{path}: case identifier {case.key!r} is not a valid case key "
                              "(letters, digits, '.', '_', '-'; at most 64)")
        rows.append(_Row(key=case.key, image=case.image, mask=case.mask, label=case.label))
    return rows


def _scan_layout(folder: Path) -> list[_Row]:
    cases = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise CohortError(f"{folder}: no case folders and no cohort.yaml/cohort.csv manifest")
    return [_layout_row(case, i, len(cases)) for i, case in enumerate(cases)]


def _layout_row(case: Path, index: int, total: int) -> _Row:
    where = f"case folder {index + 1} of {total} (sorted by name)"
    subdirs = [p for p in case.iterdir() if p.is_dir() and not p.name.startswith(".")]
    named = [p for p in subdirs if p.name.lower() == "dicom"]
    dicom = named or (subdirs if len(subdirs) == 1 else [])
    volumes = [p for p in case.iterdir() if is_volume_file(p)
               and p.name.lower().split(".")[0] in CT_FILE_STEMS]
    if len(dicom) + len(volumes) != 1:
        raise CohortError(
            f"{where}: expected a 'dicom' folder (or exactly one sub-folder) or one CT file "
            f"named ct.* / image.*, found {len(subdirs)} sub-folders and {len(volumes)} CT "
            "files; rename them or use a manifest"
        )
    masks = [p for p in case.iterdir() if p.is_file() and p.name.lower().endswith(MASK_SUFFIXES)
             and p not in volumes]
    if len(masks) > 1:
        names = ", ".join(sorted(m.name for m in masks))
        raise CohortError(
            f"{where}: {len(masks)} mask files ({names}); keep one, or list the case in a manifest"
        )
    key = case.name if _valid_key(case.name) else None
    mask = masks[0] if masks else None
    if volumes:
        return _Row(key=key, image=volumes[0], mask=mask)
    return _Row(key=key, dicom=dicom[0], mask=mask)


def _valid_key(name: str) -> bool:
    return re.fullmatch(KEY_PATTERN, name) is not None


def _ref(row: _Row, base: Path, index: int, keys: str, salt: bytes | None) -> CaseRef:
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

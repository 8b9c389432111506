"""Cohort descriptions -> rows: a manifest (YAML or CSV), a folder layout, an nnU-Net dataset.

Why apart from loading: these are the lab's own words for where each case's files are,
checked where they enter (a message names the file, the row and the field). Turning a
row into a case reference (its key, its paths) and loading the case is
:mod:`data_pipeline.cohort.cohort`. A cohort is described in one of four ways:

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

Paths in a row are as written (relative to the manifest's folder unless absolute).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from data_pipeline.io.labels import MASK_SUFFIXES
from data_pipeline.io.nnunet_dataset import (
    NnunetDatasetError,
    is_nnunet_dataset,
    is_nnunet_test_folder,
    read_nnunet_dataset,
)
from data_pipeline.io.volume_io import is_volume_file

__all__ = ["CT_FILE_STEMS", "KEY_PATTERN", "MANIFEST_NAMES", "CohortError", "Row", "read_rows"]

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MANIFEST_NAMES = ("cohort.yaml", "cohort.yml", "cohort.csv")
CT_FILE_STEMS = ("ct", "image")
"""In a folder layout, a case's CT volume file is ``ct.*`` or ``image.*`` (any volume suffix)."""


class CohortError(ValueError):
    """The cohort description (manifest or folder layout) is unusable as a whole."""


class Row(BaseModel):
    """One case as the description gives it: a key (or none), the CT, the mask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    dicom: Path | None = None
    image: Path | None = None
    mask: Path | None = None
    series_uid: str | None = None
    label: int | str | None = None

    @model_validator(mode="after")
    def _one_ct(self) -> Row:
        if (self.dicom is None) == (self.image is None):
            raise PydanticCustomError("one_ct", "give the CT as 'dicom' (a DICOM series "
                                      "folder) or as 'image' (a NIfTI/NRRD/MHA file), "
                                      "exactly one of them")
        return self

    @property
    def ct(self) -> Path:
        """The CT, whichever of ``dicom`` and ``image`` the row gives."""
        if self.dicom is not None:
            return self.dicom
        if self.image is None:  # _one_ct refuses a row without either
            raise ValueError("a manifest row without 'dicom' or 'image' passed validation")
        return self.image


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    # Written by data_pipeline.synthetic.generator; ignored here.
    generator: dict[str, object] | None = None
    cases: list[Row] = Field(min_length=1)


def read_rows(path: Path) -> tuple[list[Row], Path]:
    """The rows a cohort description gives, and the folder their relative paths start from.

    Args:
        path: a ``cohort.yaml``/``.csv`` manifest, a folder holding one, an nnU-Net
            dataset (or its ``imagesTs`` folder), or a folder layout.

    Raises:
        CohortError: unreadable or invalid manifest (names the file, row and field), or
            an ambiguous case folder.
    """
    manifest = _find_manifest(path)
    if manifest is not None:
        return _read_manifest(manifest), manifest.parent
    if is_nnunet_dataset(path) or is_nnunet_test_folder(path):
        return _nnunet_rows(path), path
    datasets = _nnunet_datasets_in(path)
    if datasets:
        raise CohortError(f"{path} is an nnU-Net raw folder holding {len(datasets)} datasets; "
                          "point data.cohort at one DatasetXXX_ folder: "
                          + ", ".join(str(path / name) for name in datasets[:5]))
    if path.is_dir():
        return _scan_layout(path), path
    raise CohortError(f"{path} is neither a cohort manifest (.yaml/.csv) nor a folder")


def _nnunet_datasets_in(path: Path) -> list[str]:
    """Names of the nnU-Net datasets directly under ``path`` (an ``nnUNet_raw`` root)."""
    if not path.is_dir():
        return []
    return sorted(child.name for child in path.iterdir()
                  if child.name.startswith("Dataset") and is_nnunet_dataset(child))


def _find_manifest(path: Path) -> Path | None:
    if path.is_file():
        return path
    found = [path / name for name in MANIFEST_NAMES if (path / name).is_file()]
    if len(found) > 1:
        names = ", ".join(f.name for f in found)
        raise CohortError(f"{path} holds {len(found)} manifests ({names}); keep one")
    return found[0] if found else None


def _read_manifest(path: Path) -> list[Row]:
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
    cleaned: dict[str, object] = {
        k.strip(): (v.strip() if v else None) or None for k, v in row.items() if k
    }
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
            row = raw["cases"][loc[1]] if isinstance(raw, dict) else None
            key = row.get("key") if isinstance(row, dict) else None
            where = f"cases[{loc[1]}] (row {loc[1] + 1}{f', key {key!r}' if key else ''})" + (
                "." + ".".join(str(p) for p in loc[2:]) if loc[2:] else ""
            )
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def _nnunet_rows(path: Path) -> list[Row]:
    """Rows of an nnU-Net dataset (training cases) or of its ``imagesTs`` folder (test)."""
    test = is_nnunet_test_folder(path)
    try:
        cases = read_nnunet_dataset(path.parent if test else path,
                                    split="test" if test else "train")
    except NnunetDatasetError as err:
        raise CohortError(str(err)) from None
    unlabelled = [case for case in cases if case.mask is None]
    if unlabelled:
        labels = path.parent / "labelsTs"
        names = [case.image.name.replace("_0000", "", 1) for case in unlabelled]
        raise CohortError(f"{labels}: no label for {len(unlabelled)} test image(s) of {path} "
                          f"({', '.join(names[:5])}); the external test scores every case "
                          f"against its mask: put <case>.nii.gz masks in {labels}")
    rows = []
    for case in cases:
        if not _valid_key(case.key):
            raise CohortError(f"{path}: case identifier {case.key!r} is not a valid case key "
                              "(letters, digits, '.', '_', '-'; at most 64)")
        rows.append(Row(key=case.key, image=case.image, mask=case.mask, label=case.label))
    return rows


def _scan_layout(folder: Path) -> list[Row]:
    cases = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise CohortError(f"{folder}: no case folders and no cohort.yaml/cohort.csv manifest")
    return [_layout_row(case, i, len(cases)) for i, case in enumerate(cases)]


def _layout_row(case: Path, index: int, total: int) -> Row:
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
        return Row(key=key, image=volumes[0], mask=mask)
    return Row(key=key, dicom=dicom[0], mask=mask)


def _valid_key(name: str) -> bool:
    return re.fullmatch(KEY_PATTERN, name) is not None

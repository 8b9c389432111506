"""Which series of a DICOM folder is the case's CT, and what else the folder holds.

Why a module of its own: a case folder exported from PACS often holds more than the CT
to train on (a scout, a second reconstruction, an RT structure set, a SEG, an MR of the
same study). A reader that silently picks one of several CT series can train on the
wrong reconstruction without a word; one that silently drops the rest hides that the
export is not what the researcher thinks. So (issue 28), on header values only:

- **refused**: a second CT image series, unless the cohort names the one to read
  (``series_uid``). The message lists each CT series by its position in the folder,
  SeriesNumber, slice count, image size and one file name, so the researcher can tell
  them apart and move one out. SeriesDescription is free text an operator typed (it can
  hold a name), so it is not shown; the file name lets one open the series in a viewer.
- **reported and ignored**, counted and named by file name in one note: localizer
  (scout) images, images of another modality (MR, PT, a SEG or an RT dose with pixel
  data), DICOM objects without pixel data (an RT structure set, a report), and, when
  ``series_uid`` names the series, the other CT series. None of them can be mistaken
  for the CT, so they are no reason to refuse a case.

Files without the DICOM marker are ignored and named by
:func:`~data_pipeline.io.dicom.read_series` (an export's ``notes.txt``). Series are
named by their position in the folder (``series #2``), never by UID.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from data_pipeline.errors import DataError
from data_pipeline.io.series_layout import SliceHeader

__all__ = ["NonImage", "select_series"]

logger = logging.getLogger(__name__)

_NAMES_SHOWN = 3
"""File names shown per kind of ignored file (then a count)."""


@dataclass(frozen=True)
class NonImage:
    """A DICOM file without pixel data (an RT structure set, a report): its file name and
    Modality only."""

    name: str
    modality: str


def select_series(
    slices: Sequence[SliceHeader], series_uid: str | None, case_key: str,
    non_images: Sequence[NonImage] = (),
) -> tuple[list[SliceHeader], tuple[str, ...]]:
    """Choose the CT series to read (see the module docstring) and drop its localizers.

    Args:
        slices: every image file's header, in file-name order.
        series_uid: the cohort's SeriesInstanceUID for this case, if it names one.
        case_key: pseudonymous key used in every message.
        non_images: the folder's DICOM files without pixel data.

    Returns:
        The chosen slices (file order), and a note naming what else was ignored.

    Raises:
        DataError: no images, an unknown ``series_uid``, no CT series (non-CT modality),
            or more than one CT series and no ``series_uid`` (mixed series).
    """
    groups: dict[str, list[SliceHeader]] = {}
    for s in slices:
        groups.setdefault(s.series_uid, []).append(s)
    if not groups:
        raise DataError(case_key, "the DICOM folder holds no images (no file has pixel data)")
    names = {uid: f"series #{i + 1}" for i, uid in enumerate(groups)}
    if series_uid is not None:
        if series_uid not in groups:
            raise DataError(
                case_key,
                f"no series with the requested series_uid among the folder's "
                f"{len(groups)} series; check the cohort's series_uid",
            )
        chosen = series_uid
    else:
        chosen = _only_ct_series(groups, names, case_key)
    series = [s for s in groups[chosen] if not s.localizer]
    modality = series[0].modality if series else groups[chosen][0].modality
    if modality != "CT" or not series:
        what = "localizer images" if not series else f"modality {modality or 'unknown'}"
        raise DataError(case_key, f"non-CT modality: {names[chosen]} holds {what}; expected CT")
    kept = {id(s) for s in series}
    note = _ignored_note([s for s in slices if id(s) not in kept], non_images)
    if note:
        logger.info("case %s: %s", case_key, note)
    return series, (note,) if note else ()


def _ct_images(group: Sequence[SliceHeader]) -> list[SliceHeader]:
    return [s for s in group if s.modality == "CT" and not s.localizer]


def _only_ct_series(
    groups: dict[str, list[SliceHeader]], names: dict[str, str], case_key: str
) -> str:
    """The one series holding CT images that are not localizers."""
    ct = {uid: images for uid, g in groups.items() if (images := _ct_images(g))}
    if not ct:
        found = ", ".join(
            f"{names[u]}: {g[0].modality or 'unknown'} ({len(g)} images)" for u, g in groups.items()
        )
        raise DataError(
            case_key, f"non-CT modality: no CT images in the folder ({found}); expected a CT series"
        )
    if len(ct) > 1:
        found = "; ".join(
            f"{names[u]}: SeriesNumber {images[0].series_number}, {len(images)} slices of "
            f"{images[0].image_format[0]} x {images[0].image_format[1]}, e.g. file "
            f"{images[0].path.name}" for u, images in ct.items())
        raise DataError(
            case_key,
            f"mixed series: the folder holds {len(ct)} CT series ({found}); keep one CT "
            "series per case folder (move the others out), or set this case's series_uid "
            "in the cohort to the SeriesInstanceUID of the one to read",
        )
    return next(iter(ct))


def _kind(header: SliceHeader) -> str:
    if header.localizer:
        return "localizer"
    if header.modality == "CT":
        return "CT of another series"
    return header.modality or "unknown modality"


def _ignored_note(images: Sequence[SliceHeader], non_images: Sequence[NonImage]) -> str:
    """``ignored 3 DICOM file(s) besides the CT series: 1 localizer (s.dcm), ...``."""
    kinds: dict[str, list[str]] = {}
    for header in images:
        kinds.setdefault(_kind(header), []).append(header.path.name)
    for other in non_images:
        kinds.setdefault(f"{other.modality or 'unknown modality'} without an image",
                         []).append(other.name)
    if not kinds:
        return ""
    parts = []
    for kind, files in kinds.items():
        more = f", +{len(files) - _NAMES_SHOWN} more" if len(files) > _NAMES_SHOWN else ""
        parts.append(f"{len(files)} {kind} ({', '.join(files[:_NAMES_SHOWN])}{more})")
    total = sum(len(files) for files in kinds.values())
    return f"ignored {total} DICOM file(s) besides the CT series: {', '.join(parts)}"

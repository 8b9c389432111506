"""An nnU-Net v2 raw dataset folder -> the cases of a cohort (no pixel data is read here).

Why: most public CT segmentation sets, and every lab that already runs nnU-Net, keep
their data in nnU-Net v2's raw layout (Isensee et al. 2021, doi:10.1038/s41592-020-01008-z;
``documentation/dataset_format.md`` of MIC-DKFZ/nnUNet)::

    DatasetXXX_Name/
      dataset.json            {"channel_names": {"0": "CT"}, "labels": {"background": 0,
                               "lesion": 1}, "numTraining": N, "file_ending": ".nii.gz"}
      imagesTr/<case>_0000.nii.gz   one file per channel; this platform reads one CT channel
      labelsTr/<case>.nii.gz
      imagesTs/<case>_0000.nii.gz   optional test images (labelsTs/ beside them, if any)

``load_cohort`` reads such a folder as the training cases (``imagesTr`` + ``labelsTr``)
and its ``imagesTs`` folder as the test cases (with ``labelsTs`` masks when present):
point ``data.cohort`` at the dataset and ``data.test_cohort`` at its ``imagesTs``. The
explicit file list of a ``dataset.json`` with a ``dataset`` key is read too. Checks:
the v2 keys are present, one input channel, a known file ending, every training image
has its label and ``numTraining`` matches (as ``nnUNetv2_plan_and_preprocess
--verify_dataset_integrity`` does). The lesion label is the single foreground label of
``labels``; with several foreground labels every label above 0 is lesion.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_pipeline.io.volume_io import VOLUME_SUFFIXES

__all__ = ["DATASET_JSON", "DatasetCase", "NnunetDatasetError", "is_nnunet_dataset",
           "is_nnunet_test_folder", "read_nnunet_dataset"]

DATASET_JSON = "dataset.json"
_REQUIRED = ("channel_names", "labels", "numTraining", "file_ending")
_CHANNEL = "_0000"


class NnunetDatasetError(ValueError):
    """The dataset folder or its ``dataset.json`` is unusable (names the file and the key)."""


@dataclass(frozen=True)
class DatasetCase:
    """One case of the dataset: identifier, CT file, label file (None: unlabelled)."""

    key: str
    image: Path
    mask: Path | None
    label: int | None


def is_nnunet_dataset(folder: Path) -> bool:
    """Whether ``folder`` is an nnU-Net raw dataset (a ``dataset.json`` beside ``imagesTr``)."""
    folder = Path(folder)
    return (folder / DATASET_JSON).is_file() and (folder / "imagesTr").is_dir()


def is_nnunet_test_folder(folder: Path) -> bool:
    """Whether ``folder`` is the ``imagesTs`` folder of an nnU-Net raw dataset."""
    folder = Path(folder)
    return folder.name == "imagesTs" and folder.is_dir() and is_nnunet_dataset(folder.parent)


def read_nnunet_dataset(folder: Path, *,
                        split: Literal["train", "test"] = "train") -> list[DatasetCase]:
    """The cases of an nnU-Net v2 raw dataset: training (``imagesTr``) or test (``imagesTs``).

    Args:
        folder: the dataset folder (holding ``dataset.json``).
        split: ``train``: ``imagesTr`` with ``labelsTr`` (every case needs its label);
            ``test``: ``imagesTs`` with ``labelsTs`` where that folder exists.

    Raises:
        NnunetDatasetError: a missing or invalid ``dataset.json``, more than one channel,
            an unknown file ending, a training image without its label, a ``numTraining``
            that does not match, or no images.
    """
    folder = Path(folder)
    meta = _read_meta(folder / DATASET_JSON)
    ending, label = meta["file_ending"], _lesion_label(meta["labels"], folder)
    if "dataset" in meta and split == "train":
        cases = _listed_cases(folder, meta["dataset"], label)
    else:
        images = folder / ("imagesTr" if split == "train" else "imagesTs")
        labels = folder / ("labelsTr" if split == "train" else "labelsTs")
        cases = _scanned_cases(images, labels, ending, label, required=split == "train")
    if split == "train" and meta["numTraining"] != len(cases):
        raise NnunetDatasetError(
            f"{folder / DATASET_JSON}: numTraining is {meta['numTraining']}, but "
            f"{len(cases)} training cases were found; correct numTraining or add the cases")
    return cases


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NnunetDatasetError(f"{path}: cannot read it as JSON ({err})") from err
    if not isinstance(meta, dict):
        raise NnunetDatasetError(f"{path}: expected a JSON object")
    if "modality" in meta and "channel_names" not in meta:
        raise NnunetDatasetError(f"{path}: an nnU-Net v1 dataset.json ('modality'); convert "
                                 "it with nnUNetv2_convert_old_nnUNet_dataset")
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise NnunetDatasetError(f"{path}: missing nnU-Net v2 key(s) {missing}; required: "
                                 f"{list(_REQUIRED)}")
    channels = meta["channel_names"]
    if not isinstance(channels, dict) or len(channels) != 1:
        raise NnunetDatasetError(f"{path}: channel_names {channels!r}: this platform reads one "
                                 "CT channel ({'0': 'CT'}); keep only the CT channel")
    if meta["file_ending"] not in VOLUME_SUFFIXES:
        raise NnunetDatasetError(f"{path}: file_ending {meta['file_ending']!r}; expected one "
                                 f"of {list(VOLUME_SUFFIXES)}")
    return meta


def _lesion_label(labels: Any, folder: Path) -> int | None:
    if not isinstance(labels, dict) or not labels:
        raise NnunetDatasetError(f"{folder / DATASET_JSON}: 'labels' must map names to values, "
                                 f"got {labels!r}")
    foreground = [v for k, v in labels.items() if k != "background" and v != 0]
    if len(foreground) == 1 and isinstance(foreground[0], int):
        return foreground[0]
    return None  # several labels or regions: every label above 0 is lesion


def _scanned_cases(images: Path, labels: Path, ending: str, label: int | None, *,
                   required: bool) -> list[DatasetCase]:
    if not images.is_dir():
        raise NnunetDatasetError(f"{images}: no such folder")
    pattern = re.compile(rf"^(.+)_(\d{{4}}){re.escape(ending)}$")
    found: dict[str, list[str]] = {}
    for file in sorted(p.name for p in images.iterdir() if p.is_file()):
        match = pattern.match(file)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    if not found:
        raise NnunetDatasetError(f"{images}: no images named <case>{_CHANNEL}{ending}")
    several = sorted(key for key, channels in found.items() if channels != ["0000"])
    if several:
        raise NnunetDatasetError(f"{images}: case(s) {several[:5]} have channels other than "
                                 f"{_CHANNEL}; this platform reads one CT channel")
    cases = []
    for key in sorted(found):
        label_file = labels / f"{key}{ending}"
        mask: Path | None = label_file
        if not label_file.is_file():
            if required:
                raise NnunetDatasetError(f"{labels}: no label {label_file.name} for image "
                                         f"{key}{_CHANNEL}{ending}")
            mask = None
        cases.append(DatasetCase(key, images / f"{key}{_CHANNEL}{ending}", mask, label))
    return cases


def _listed_cases(folder: Path, listed: Any, label: int | None) -> list[DatasetCase]:
    """Cases of the ``dataset`` key: ``{case: {"images": [path], "label": path}}``."""
    if not isinstance(listed, dict) or not listed:
        raise NnunetDatasetError(f"{folder / DATASET_JSON}: 'dataset' must map case ids to "
                                 "{images, label}")
    cases = []
    for key, entry in sorted(listed.items()):
        images = entry.get("images") if isinstance(entry, dict) else None
        if not isinstance(images, list) or len(images) != 1 or "label" not in entry:
            raise NnunetDatasetError(f"{folder / DATASET_JSON}: dataset[{key!r}] needs "
                                     "'images' (one CT file) and 'label'")
        cases.append(DatasetCase(key, folder / images[0], folder / entry["label"], label))
    return cases

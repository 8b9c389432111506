"""Files other tools read: nnU-Net v2 ``summary.json``, ``splits_final.json``, Auto3DSeg datalist.

Why: a lab that compares this platform with nnU-Net or MONAI Auto3DSeg wants the same
folds and results in the files those tools write and read.

- ``summary.json`` (per fold, logged on each trial's run; per external test on the
  sweep's parent run) in nnU-Net v2's schema (``nnunetv2/evaluation/
  evaluate_predictions.py``): ``metric_per_case`` (per case ``metrics`` by label with
  ``Dice, IoU, FP, TP, FN, TN, n_pred, n_ref``, and ``prediction_file`` /
  ``reference_file``), ``mean`` by label (NaN-aware) and ``foreground_mean``. Counts are
  voxels on the scan's original grid against the untouched mask, as every metric here;
  Dice and IoU are NaN when both masks are empty, as nnU-Net writes them. File names are
  ``<case key><ending>``, never the source paths (which may name the patient).
- ``splits_final.json`` (nnU-Net's fold file, ``data_pipeline.cohort.splits``) and a MONAI
  Auto3DSeg datalist (``{"training": [{"image", "label", "fold"}], "testing": [{"image"}]}``,
  paths relative to the cohort folder) for a sweep's cohort and folds, written by
  ``python -m platform.interchange`` (:mod:`platform.interchange`); the datalist holds
  file paths, so it is written to a folder only and never logged.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_pipeline.cohort.cohort import CaseRef

__all__ = ["NNUNET_CASE_METRICS", "auto3dseg_datalist", "check_summary",
           "nnunet_summary", "read_summary"]

NNUNET_CASE_METRICS = ("Dice", "IoU", "FP", "TP", "FN", "TN", "n_pred", "n_ref")
"""The per-label metrics of nnU-Net v2's ``summary.json``, in its order."""
_TOP_KEYS = ("metric_per_case", "mean", "foreground_mean")


def _case_metrics(row: Mapping[str, Any]) -> dict[str, float | int]:
    tp, fp, fn, tn = (int(row[k]) for k in ("tp", "fp", "fn", "tn"))
    errors = fp + fn
    return {"Dice": 2 * tp / (2 * tp + errors) if tp + errors else math.nan,
            "IoU": tp / (tp + errors) if tp + errors else math.nan,
            "FP": fp, "TP": tp, "FN": fn, "TN": tn, "n_pred": fp + tp, "n_ref": fn + tp}


def nnunet_summary(rows: Sequence[Mapping[str, Any]], *, label: int = 1,
                   file_ending: str = ".nii.gz") -> dict[str, Any]:
    """nnU-Net v2's ``summary.json`` of per-patient rows (``case``, ``tp``, ``fp``, ``fn``, ``tn``).

    Raises:
        KeyError: a row without the voxel counts (see
            ``platform.evaluation.metrics.confusion_counts``).
    """
    per_case: list[dict[str, Any]] = [
        {"metrics": {str(label): _case_metrics(row)},
         "prediction_file": f"{row['case']}{file_ending}",
         "reference_file": f"{row['case']}{file_ending}"} for row in rows]
    mean = {str(label): {name: _nanmean([c["metrics"][str(label)][name] for c in per_case])
                         for name in NNUNET_CASE_METRICS}}
    return {"metric_per_case": per_case, "mean": mean,
            "foreground_mean": dict(mean[str(label)])}


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def check_summary(summary: Mapping[str, Any]) -> None:
    """Raise unless ``summary`` has every key nnU-Net v2's ``load_summary_json`` reads.

    Raises:
        ValueError: naming the missing key and where.
    """
    missing = [key for key in _TOP_KEYS if key not in summary]
    if missing:
        raise ValueError(f"summary.json lacks {missing}; nnU-Net v2 needs {list(_TOP_KEYS)}")
    for i, case in enumerate(summary["metric_per_case"]):
        for key in ("metrics", "prediction_file", "reference_file"):
            if key not in case:
                raise ValueError(f"summary.json metric_per_case[{i}] lacks {key!r}")
        for label, metrics in case["metrics"].items():
            lacking = [m for m in NNUNET_CASE_METRICS if m not in metrics]
            if lacking or not label.lstrip("(").split(",")[0].strip(")").isdigit():
                raise ValueError(f"summary.json metric_per_case[{i}] label {label!r}: "
                                 f"lacks {lacking} or is not a label key")
    for label, metrics in summary["mean"].items():
        lacking = [m for m in NNUNET_CASE_METRICS if m not in metrics]
        if lacking:
            raise ValueError(f"summary.json mean[{label!r}] lacks {lacking}")


def read_summary(path: Path) -> dict[str, Any]:
    """Read a ``summary.json`` and check its keys (:func:`check_summary`)."""
    summary: dict[str, Any] = json.loads(Path(path).read_text())
    check_summary(summary)
    return summary


def auto3dseg_datalist(refs: Sequence[CaseRef], folds: Mapping[str, int], *, root: Path,
                       test_refs: Sequence[CaseRef] = ()) -> dict[str, list[dict[str, Any]]]:
    """A MONAI Auto3DSeg datalist: each case with the fold it is tested in.

    Args:
        refs: the cross-validation cases.
        folds: case key -> the index of the fold that tests it.
        root: the ``dataroot`` paths are made relative to (where possible).
        test_refs: an external test cohort (``testing``; never in a fold).
    """
    def path(value: Path | None) -> str | None:
        if value is None:
            return None
        relative = os.path.relpath(value, root)
        return value.as_posix() if relative.startswith("..") else Path(relative).as_posix()

    training = [{"image": path(ref.image), "label": path(ref.mask_path), "fold": folds[ref.key]}
                for ref in refs if ref.key in folds]
    return {"training": training, "testing": [{"image": path(ref.image)} for ref in test_refs]}

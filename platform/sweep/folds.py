"""The patient-level folds of a sweep, planned once by the driver before any trial.

Why here: every rule that keeps a test fold out of training starts with the fold plan.
Folds come from the sorted case keys and the CV seed (optionally stratified by lesion
volume) or from an nnU-Net ``splits_final.json``; a search's inner folds come out of one
outer fold's training patients only. Trials receive the keys and load their own cases
(:mod:`platform.trial.data`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from data_pipeline.cohort.cohort import CaseRef
from data_pipeline.cohort.splits import Fold, from_nnunet_splits, make_folds, split_validation
from data_pipeline.io.labels import lesion_volume_ml

__all__ = ["inner_folds", "lesion_volumes", "plan_folds"]


def lesion_volumes(refs: Sequence[CaseRef]) -> dict[str, float]:
    """Lesion volume in mL per case key, read from the mask files alone (fold strata)."""
    volumes = {}
    for ref in refs:
        if ref.mask_path is None:
            raise ValueError(f"case {ref.key} has no lesion mask: folds cannot be stratified "
                             "by lesion volume; set cv.stratify_by_lesion_volume: false")
        volumes[ref.key] = lesion_volume_ml(ref.mask_path, case_key=ref.key, label=ref.label)
    return volumes


def plan_folds(
    refs: Sequence[CaseRef],
    *,
    n_folds: int,
    seed: int,
    splits_file: Path | None,
    strata: Mapping[str, float] | None,
) -> list[Fold]:
    """Patient-level folds: from ``splits_file`` (nnU-Net format) or from keys and seed.

    Args:
        strata: a value per case key (lesion volume) to balance over the test folds.

    Raises:
        ValueError: a splits file naming cases the cohort does not have, or a fold count
            the cohort cannot fill.
    """
    if splits_file is not None:
        folds = from_nnunet_splits(splits_file)
        known = {ref.key for ref in refs}
        unknown = sorted({k for fold in folds for k in (*fold.train, *fold.test)} - known)
        if unknown:
            raise ValueError(f"{splits_file} names cases not in the cohort: {unknown[:5]}")
        return folds
    return make_folds([ref.key for ref in refs], n_folds, seed, strata)


def inner_folds(train_keys: Sequence[str], *, folds: int, validation_fraction: float,
                seed: int) -> list[Fold]:
    """Folds of a search inside one outer fold's training patients (its test patients are
    never among them): one validation split (``folds == 1``) or an inner k-fold split.

    Raises:
        ValueError: too few patients for the split.
    """
    if folds == 1:
        train, validation = split_validation(train_keys, validation_fraction, seed)
        return [Fold(0, train, validation)]
    return make_folds(list(train_keys), folds, seed)

"""What data a trial sees: the patient-level folds and the preprocessed cases of one fold.

Why one module: every rule that keeps a test fold out of training lives here. The driver
plans the folds once (from the sorted case keys and the CV seed, optionally stratified by
lesion volume, or read from an nnU-Net ``splits_final.json``) and sends their keys with
every trial; a trial loads only its fold's cases; the validation patients of a search
come out of the training fold only; loss-weight statistics are computed from the
training cases this module returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_pipeline.cache import PREPROCESSED_DIR, PreprocessedCache
from data_pipeline.cohort.cohort import CaseRef
from data_pipeline.cohort.splits import Fold, from_nnunet_splits, make_folds, split_validation
from data_pipeline.errors import DataError
from data_pipeline.io.labels import lesion_volume_ml
from data_pipeline.parts.registry import PartSpec
from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.samplers import lesion_class_counts

__all__ = ["FoldCases", "inner_folds", "lesion_volumes", "load_fold_cases", "plan_folds"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldCases:
    """Preprocessed training and evaluation cases of one fold, with their keys.

    ``class_counts`` are the weighted loss's N0/N1 (background, lesion voxels) over the
    training cases only.
    """

    train_keys: tuple[str, ...]
    eval_keys: tuple[str, ...]
    train: tuple[PreprocessedCase, ...]
    eval: tuple[PreprocessedCase, ...]
    class_counts: tuple[int, int]
    eval_refs: tuple[CaseRef, ...]
    """Where the evaluation cases' files are: scoring reads their untouched masks."""


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


def load_fold_cases(
    refs: Mapping[str, CaseRef],
    train_keys: Sequence[str],
    test_keys: Sequence[str],
    *,
    steps: Sequence[PartSpec],
    cache_root: Path,
    max_lesion_loss: float,
) -> FoldCases:
    """Preprocessed cases of a fold: train on ``train_keys``, evaluate on ``test_keys``.

    Args:
        max_lesion_loss: refuse a case whose preprocessing took more of its lesion.

    Raises:
        DataError: a case that cannot be loaded, or that lost too much of its lesion
            (names the case, the step and the share).
    """
    train_keys, eval_keys = tuple(train_keys), tuple(test_keys)
    cache = PreprocessedCache(cache_root / PREPROCESSED_DIR)

    def load(key: str) -> PreprocessedCase:
        case = cache.get(refs[key], steps)
        problem = case.lesion_loss.problem(max_lesion_loss)
        if problem is not None:
            raise DataError(key, problem)
        return case

    train = tuple(load(key) for key in train_keys)
    evaluated = tuple(load(key) for key in eval_keys)
    logger.info("%d training and %d evaluation patients (cache hits %d, misses %d)",
                len(train), len(evaluated), cache.hits, cache.misses)
    return FoldCases(train_keys, eval_keys, train, evaluated, lesion_class_counts(train),
                     tuple(refs[key] for key in eval_keys))

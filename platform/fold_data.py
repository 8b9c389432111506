"""What data a trial sees: the cohort, its patient-level folds and the preprocessed cases.

Why one module: every rule that keeps a test fold out of training lives here. Folds are
made from the sorted case keys and the CV seed (or read from an nnU-Net
``splits_final.json``), so every trial on every node derives the same split; the
validation patients of a search come out of the training fold only; loss-weight
statistics are computed by the caller from the training cases this module returns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_pipeline.cache import PreprocessedCache
from data_pipeline.cohort import CaseRef, load_cohort
from data_pipeline.preprocess import PreprocessedCase, StepSpec
from data_pipeline.samplers import lesion_class_counts
from data_pipeline.splits import Fold, from_nnunet_splits, make_folds, split_validation
from data_pipeline.synthetic import generate_cohort

__all__ = ["FoldCases", "ensure_cohort", "load_fold", "plan_folds"]

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


def ensure_cohort(
    cohort: Path | None,
    *,
    patients: int,
    shape: Sequence[int],
    seed: int,
    cache_root: Path,
    progress: bool = True,
) -> Path:
    """Return the cohort to use: the given one, or a synthetic one generated on first use.

    The synthetic cohort is written once per ``(patients, shape, seed)`` under
    ``cache_root/cohorts`` through a temporary folder and an atomic rename, so two sweeps
    that start together do not write over each other.
    """
    if cohort is not None:
        return cohort
    spec = json.dumps({"patients": patients, "shape": list(shape), "seed": seed})
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    target = cache_root / "cohorts" / f"synthetic-{digest}"
    if (target / "cohort.yaml").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=target.parent))
    logger.info("generating a synthetic cohort of %d patients %s into %s", patients, shape, target)
    generate_cohort(scratch, patients, tuple(shape), seed, progress=progress)
    try:
        os.replace(scratch, target)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def plan_folds(
    refs: Sequence[CaseRef], *, n_folds: int, seed: int, splits_file: Path | None
) -> list[Fold]:
    """Patient-level folds: from ``splits_file`` (nnU-Net format) or from keys and seed."""
    if splits_file is not None:
        folds = from_nnunet_splits(splits_file)
        known = {ref.key for ref in refs}
        unknown = sorted({k for fold in folds for k in (*fold.train, *fold.test)} - known)
        if unknown:
            raise ValueError(f"{splits_file} names cases not in the cohort: {unknown[:5]}")
        return folds
    return make_folds([ref.key for ref in refs], n_folds, seed)


def load_fold(
    cohort: Path,
    *,
    fold: int,
    n_folds: int,
    cv_seed: int,
    splits_file: Path | None,
    steps: Sequence[StepSpec],
    cache_root: Path,
    validation_fraction: float | None = None,
) -> FoldCases:
    """Preprocessed cases of ``fold``: train on the other folds, evaluate on this one.

    With ``validation_fraction`` (hyperparameter search), the evaluation cases are a
    validation split drawn from the training folds and the test fold is not loaded at all.
    """
    refs = {ref.key: ref for ref in load_cohort(cohort)}
    folds = plan_folds(list(refs.values()), n_folds=n_folds, seed=cv_seed, splits_file=splits_file)
    if not 0 <= fold < len(folds):
        raise ValueError(f"fold {fold} does not exist: the split has folds 0..{len(folds) - 1}")
    train_keys, eval_keys = tuple(folds[fold].train), tuple(folds[fold].test)
    if validation_fraction is not None:
        train_split, val_split = split_validation(train_keys, validation_fraction, cv_seed + fold)
        train_keys, eval_keys = tuple(train_split), tuple(val_split)
    cache = PreprocessedCache(cache_root / "preprocessed")
    train = tuple(cache.get(refs[key], steps) for key in train_keys)
    evaluated = tuple(cache.get(refs[key], steps) for key in eval_keys)
    logger.info(
        "fold %d: %d training and %d evaluation patients (cache hits %d, misses %d)",
        fold, len(train), len(evaluated), cache.hits, cache.misses,
    )
    return FoldCases(train_keys, eval_keys, train, evaluated, lesion_class_counts(train))

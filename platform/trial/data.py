"""What data a trial sees: the preprocessed cases of one fold, and nothing of its test fold.

The driver plans the folds once (:mod:`platform.sweep.folds`) and sends their keys with
every trial; a trial loads only its fold's cases here; the validation patients of a
search come out of the training fold only; loss-weight statistics are computed from the
training cases this module returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_pipeline.cache import PREPROCESSED_DIR, PreprocessedCache
from data_pipeline.cohort.cohort import CaseRef
from data_pipeline.errors import DataError
from data_pipeline.parts.registry import PartSpec
from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.samplers import lesion_class_counts

__all__ = ["FoldCases", "load_fold_cases"]

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

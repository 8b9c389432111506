"""Tests of platform/trial/data.py: one fold's cases, preprocessed through the cache.

A fold loads the training and held-out patients it names, in order, with the class
counts of its training cases; a case whose preprocessing cut away too much lesion is
refused by its key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.errors import DataError
from data_pipeline.preprocess import NO_PREPROCESSING_STEPS, step
from platform.trial.data import load_fold_cases


def test_a_fold_loads_its_cases_and_a_validation_split_never_the_test_fold(
    skewed_cohort: Path, tmp_path: Path
) -> None:
    refs = {ref.key: ref for ref in load_cohort(skewed_cohort)}
    keys = sorted(refs)
    train, test = keys[:6], keys[6:]
    data = load_fold_cases(refs, train, test, steps=NO_PREPROCESSING_STEPS,
                           cache_root=tmp_path, max_lesion_loss=0.005)
    assert (data.train_keys, data.eval_keys) == (tuple(train), tuple(test))
    assert data.eval_refs == tuple(refs[key] for key in test)
    n1 = sum(int(case.lesion.sum()) for case in data.train)
    assert data.class_counts[1] == n1 > 0


def test_a_case_that_lost_too_much_lesion_is_refused_by_name(
        tmp_path: Path, synthetic_cohort: Callable[..., Path]) -> None:
    cohort = synthetic_cohort(2, (64, 64, 64), 2, craniectomy_fraction=1.0)
    refs = {ref.key: ref for ref in load_cohort(cohort)}
    keys = sorted(refs)
    enclosed = [step("hu_window"), step("remove_skull", {"method": "enclosed"}),
                step("minmax"), step("crop_to_brain")]
    with pytest.raises(DataError, match=r"case case-00\d: remove_skull lost [0-9.]+% of the "
                                        r"lesion .* above preprocessing.max_lesion_loss = 0.50%"):
        load_fold_cases(refs, keys[:1], keys[1:], steps=enclosed, cache_root=tmp_path,
                        max_lesion_loss=0.005)
    allowed = load_fold_cases(refs, keys[:1], keys[1:], steps=enclosed, cache_root=tmp_path,
                              max_lesion_loss=1.0)
    assert allowed.train[0].lesion_loss.fraction > 0.005  # kept, and its loss recorded

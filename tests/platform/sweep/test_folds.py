"""Tests of platform/sweep/folds.py: lesion-volume strata, the outer and the inner fold plans.

One fold's cases (:mod:`platform.trial.data`) are tested in ``trial/test_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from data_pipeline.cohort.cohort import load_cohort
from platform.sweep.folds import inner_folds, lesion_volumes, plan_folds


def test_lesion_volumes_are_read_from_the_masks_in_ml(skewed_cohort: Path) -> None:
    refs = load_cohort(skewed_cohort)
    volumes = lesion_volumes(refs)
    mask = sitk.ReadImage(str(refs[0].mask_path))
    voxels = int(sitk.GetArrayFromImage(mask).astype(bool).sum())
    assert volumes[refs[0].key] == pytest.approx(voxels * np.prod(mask.GetSpacing()) / 1000)
    assert max(volumes.values()) > 3 * np.median(list(volumes.values()))  # skewed_cohort indeed


def test_stratified_folds_balance_lesion_volume(skewed_cohort: Path) -> None:
    refs = load_cohort(skewed_cohort)
    volumes = lesion_volumes(refs)
    ranked = sorted(volumes, key=volumes.__getitem__)
    stratified = plan_folds(refs, n_folds=3, seed=0, splits_file=None, strata=volumes)
    for fold in stratified:  # one of the 3 smallest, one of the middle 3, one of the 3 largest
        positions = sorted(ranked.index(key) for key in fold.test)
        assert [p // 3 for p in positions] == [0, 1, 2]

    def spread(folds) -> float:  # noqa: ANN001
        means = [np.mean([volumes[k] for k in fold.test]) for fold in folds]
        return max(means) - min(means)

    plain = [plan_folds(refs, n_folds=3, seed=seed, splits_file=None, strata=None)
             for seed in range(5)]
    assert spread(stratified) < np.mean([spread(folds) for folds in plain])


def test_a_splits_file_naming_other_cases_is_refused(skewed_cohort: Path, tmp_path: Path) -> None:
    splits = tmp_path / "splits_final.json"
    splits.write_text('[{"train": ["case-000"], "val": ["stranger"]}]')
    with pytest.raises(ValueError, match="names cases not in the cohort"):
        plan_folds(load_cohort(skewed_cohort), n_folds=2, seed=0, splits_file=splits, strata=None)


@pytest.mark.parametrize(("folds", "validation"), [(1, [2]), (3, [2, 2, 2])])
def test_inner_folds_stay_inside_the_outer_training_patients(folds, validation) -> None:
    train = [f"case-{i:03d}" for i in range(6)]
    inner = inner_folds(train, folds=folds, validation_fraction=0.34, seed=0)
    assert [len(f.test) for f in inner] == validation
    for fold in inner:
        assert set(fold.train) | set(fold.test) == set(train)
        assert not set(fold.train) & set(fold.test)

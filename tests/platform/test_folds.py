"""Tests of platform/folds.py: lesion-volume strata, the fold plan and one fold's cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from data_pipeline.cohort import load_cohort
from data_pipeline.preprocess import NO_PREPROCESSING_STEPS
from data_pipeline.synthetic import generate_cohort
from platform.folds import lesion_volumes, load_fold_cases, plan_folds


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine patients, most with small lesions: a skewed lesion-volume distribution."""
    folder = tmp_path_factory.mktemp("skewed")
    generate_cohort(folder, 9, (32, 40, 40), 4, small_lesion_fraction=0.7, progress=False)
    return folder


def test_lesion_volumes_are_read_from_the_masks_in_ml(skewed: Path) -> None:
    refs = load_cohort(skewed)
    volumes = lesion_volumes(refs)
    mask = sitk.ReadImage(str(refs[0].mask_path))
    voxels = int(sitk.GetArrayFromImage(mask).astype(bool).sum())
    assert volumes[refs[0].key] == pytest.approx(voxels * np.prod(mask.GetSpacing()) / 1000)
    assert max(volumes.values()) > 3 * np.median(list(volumes.values()))  # skewed indeed


def test_stratified_folds_balance_lesion_volume(skewed: Path) -> None:
    refs = load_cohort(skewed)
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


def test_a_splits_file_naming_other_cases_is_refused(skewed: Path, tmp_path: Path) -> None:
    splits = tmp_path / "splits_final.json"
    splits.write_text('[{"train": ["case-000"], "val": ["stranger"]}]')
    with pytest.raises(ValueError, match="names cases not in the cohort"):
        plan_folds(load_cohort(skewed), n_folds=2, seed=0, splits_file=splits, strata=None)


def test_a_fold_loads_its_cases_and_a_validation_split_never_the_test_fold(
    skewed: Path, tmp_path: Path
) -> None:
    refs = {ref.key: ref for ref in load_cohort(skewed)}
    keys = sorted(refs)
    train, test = keys[:6], keys[6:]
    data = load_fold_cases(refs, train, test, steps=NO_PREPROCESSING_STEPS,
                           cache_root=tmp_path)
    assert (data.train_keys, data.eval_keys) == (tuple(train), tuple(test))
    n1 = sum(int(case.lesion.sum()) for case in data.train)
    assert data.class_counts[1] == n1 > 0
    tuning = load_fold_cases(refs, train, test, steps=NO_PREPROCESSING_STEPS,
                             cache_root=tmp_path, validation=(0.34, 0))
    assert set(tuning.eval_keys) <= set(train) and len(tuning.eval_keys) == 2
    assert set(tuning.train_keys) | set(tuning.eval_keys) == set(train)

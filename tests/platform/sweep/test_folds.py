"""Tests of platform/folds.py: lesion-volume strata, the fold plan and one fold's cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.errors import DataError
from data_pipeline.preprocess import NO_PREPROCESSING_STEPS, step
from data_pipeline.synthetic.generator import generate_cohort
from platform.sweep.folds import inner_folds, lesion_volumes, plan_folds
from platform.trial.data import load_fold_cases


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
                           cache_root=tmp_path, max_lesion_loss=0.005)
    assert (data.train_keys, data.eval_keys) == (tuple(train), tuple(test))
    assert data.eval_refs == tuple(refs[key] for key in test)
    n1 = sum(int(case.lesion.sum()) for case in data.train)
    assert data.class_counts[1] == n1 > 0


@pytest.mark.parametrize(("folds", "validation"), [(1, [2]), (3, [2, 2, 2])])
def test_inner_folds_stay_inside_the_outer_training_patients(folds, validation) -> None:
    train = [f"case-{i:03d}" for i in range(6)]
    inner = inner_folds(train, folds=folds, validation_fraction=0.34, seed=0)
    assert [len(f.test) for f in inner] == validation
    for fold in inner:
        assert set(fold.train) | set(fold.test) == set(train)
        assert not set(fold.train) & set(fold.test)


def test_a_case_that_lost_too_much_lesion_is_refused_by_name(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "c", 2, (64, 64, 64), 2, craniectomy_fraction=1.0,
                    progress=False)
    refs = {ref.key: ref for ref in load_cohort(tmp_path / "c")}
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

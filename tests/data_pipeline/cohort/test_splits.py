"""Tests for data_pipeline/cohort/splits.py: partition, determinism, strata, file formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.cohort.splits import (
    Fold,
    from_nnunet_splits,
    load_folds,
    make_folds,
    save_folds,
    save_nnunet_splits,
    split_validation,
    to_nnunet_splits,
)
from data_pipeline.errors import DataError

KEYS = [f"case-{i:03d}" for i in range(23)]


@pytest.mark.parametrize(("count", "n_folds"), [(23, 5), (10, 5), (5, 5), (81, 5), (7, 2)])
def test_test_sets_partition_the_patients(count: int, n_folds: int) -> None:
    keys = KEYS[:count] if count <= len(KEYS) else [f"p{i}" for i in range(count)]
    folds = make_folds(keys, n_folds, seed=3)
    assert [f.index for f in folds] == list(range(n_folds))
    tested = [k for f in folds for k in f.test]
    assert sorted(tested) == sorted(keys)  # every patient tested exactly once
    for fold in folds:
        assert set(fold.train).isdisjoint(fold.test)
        assert sorted(fold.train + fold.test) == sorted(keys)
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_same_seed_same_split_in_any_key_order_and_process() -> None:
    folds = make_folds(KEYS, 5, seed=7)
    assert make_folds(list(reversed(KEYS)), 5, seed=7) == folds
    assert make_folds(KEYS, 5, seed=8) != folds
    code = ("from data_pipeline.cohort.splits import make_folds; "
            f"print([f.test for f in make_folds({KEYS!r}, 5, seed=7)])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).resolve().parents[3])
    assert other.stdout.strip() == str([f.test for f in folds])


def test_split_is_pinned_to_the_pcg64_bit_stream() -> None:
    """A regression pin: NumPy keeps PCG64's raw stream stable, so this never changes."""
    folds = make_folds(KEYS[:10], 5, seed=0)
    order = np.argsort(np.random.PCG64(0).random_raw(10), kind="stable")
    assert folds[0].test == tuple(sorted(KEYS[i] for i in order[0::5]))


def test_stratified_folds_spread_lesion_volumes() -> None:
    volumes = {k: float(i) for i, k in enumerate(KEYS[:20])}  # 0..19 mL
    folds = make_folds(KEYS[:20], 5, seed=1, strata=volumes)
    for fold in folds:
        values = sorted(volumes[k] for k in fold.test)
        # one patient from each block of five consecutive volumes
        assert [int(v) // 5 for v in values] == [0, 1, 2, 3]
    assert make_folds(KEYS[:20], 5, seed=1, strata=volumes) == folds
    with pytest.raises(ValueError, match="strata lack"):
        make_folds(KEYS[:20], 5, seed=1, strata={KEYS[0]: 1.0})


@pytest.mark.parametrize(
    ("keys", "n_folds", "fragment"),
    [(["a", "b", "a"], 2, "unique"), (["a", "b"], 3, "between 2"), (["a", "b"], 1, "between 2")],
)
def test_bad_requests_are_value_errors(keys: list[str], n_folds: int, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make_folds(keys, n_folds)


def test_json_round_trip(tmp_path: Path) -> None:
    folds = make_folds(KEYS, 5, seed=2)
    save_folds(tmp_path / "folds.json", folds)
    assert load_folds(tmp_path / "folds.json") == folds


def test_nnunet_round_trip_and_format(tmp_path: Path) -> None:
    folds = make_folds(KEYS, 5, seed=2)
    path = tmp_path / "splits_final.json"
    save_nnunet_splits(path, folds)
    raw = json.loads(path.read_text())
    assert raw == to_nnunet_splits(folds)
    assert set(raw[0]) == {"train", "val"} and raw[0]["val"] == list(folds[0].test)
    assert from_nnunet_splits(path) == folds


def test_overlapping_test_sets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "splits_final.json"
    path.write_text(json.dumps([{"train": ["b"], "val": ["a"]}, {"train": ["b"], "val": ["a"]}]))
    with pytest.raises(DataError, match="test sets of folds 0 and 1") as info:
        from_nnunet_splits(path)
    assert info.value.case_key == "a"
    with pytest.raises(DataError, match="trains and tests"):
        save_folds(tmp_path / "f.json", [Fold(0, ("a", "b"), ("b",))])


@pytest.mark.parametrize("content", ["{", '{"version": 2}', '{"version": 1, "folds": [{}]}'])
def test_unreadable_fold_files_name_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "folds.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="folds.json"):
        load_folds(path)


def test_validation_patients_come_from_the_training_fold() -> None:
    fold = make_folds(KEYS, 5, seed=4)[0]
    train, val = split_validation(fold.train, 0.2, seed=4)
    assert sorted(train + val) == sorted(fold.train)
    assert set(val).isdisjoint(fold.test) and set(val).isdisjoint(train)
    assert len(val) == round(0.2 * len(fold.train))
    assert split_validation(fold.train, 0.2, seed=4) == (train, val)
    assert split_validation(["a", "b"], 0.01, seed=0)[1] != ()  # at least one held out
    with pytest.raises(ValueError, match="fraction"):
        split_validation(KEYS, 1.0, seed=0)

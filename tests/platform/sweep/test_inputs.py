"""Tests of platform/sweep/inputs.py: the files a sweep names are checked before Ray."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from platform.config import ConfigError, load_sweep
from platform.sweep.inputs import check_inputs

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


@pytest.fixture(scope="module")
def cohort(synthetic_cohort: Callable[..., Path]) -> Path:
    return synthetic_cohort(3, (32, 32, 32), 0)


def _problems(overrides: list[str]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        check_inputs(load_sweep(TINY, overrides), source="s.yaml")
    return caught.value.problems


def test_a_real_cohort_is_counted_and_a_synthetic_one_announced(cohort: Path) -> None:
    assert check_inputs(load_sweep(TINY, [f"data.cohort={cohort}"])).line() == (
        f"cohort: {cohort}: 3 cases")
    assert check_inputs(load_sweep(TINY)).line() == (
        "cohort: synthetic (generated on first run): 4 cases")


def test_missing_cohort_and_too_few_cases_are_one_line_each(tmp_path: Path, cohort: Path) -> None:
    assert _problems([f"data.cohort={tmp_path / 'nope'}"]) == (
        f"s.yaml: data.cohort: {tmp_path / 'nope'}: {tmp_path / 'nope'} is neither a cohort "
        "manifest (.yaml/.csv) nor a folder",)
    (line,) = _problems([f"data.cohort={cohort}", "cv.folds=4"])
    assert line == f"s.yaml: cv.folds: {cohort} holds 3 cases, fewer than cv.folds=4"


def test_splits_file_must_exist_agree_with_the_folds_and_name_known_cases(
    tmp_path: Path, cohort: Path
) -> None:
    (missing,) = _problems([f"cv.splits_file={tmp_path / 'none.json'}"])
    assert missing.startswith("s.yaml: cv.splits_file: cannot read folds from")
    splits = tmp_path / "splits_final.json"
    splits.write_text(json.dumps([{"train": ["case-000"], "val": ["case-001"]},
                                  {"train": ["case-001"], "val": ["case-000"]},
                                  {"train": ["case-000"], "val": ["stranger"]}]))
    problems = _problems([f"data.cohort={cohort}", f"cv.splits_file={splits}"])
    assert problems == (
        f"s.yaml: cv.splits_file: {splits} has 3 folds, but cv.folds=2; make them agree",
        f"s.yaml: cv.splits_file: {splits} names cases the cohort lacks: ['stranger']")


def test_a_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    (line,) = _problems([f"ray.storage_path={tmp_path / 'file' / 'ray'}"])
    assert line == (f"s.yaml: ray.storage_path: {tmp_path / 'file' / 'ray'}: cannot be "
                    f"created: {tmp_path / 'file'} is not a writable folder")


def test_a_file_where_a_folder_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("not a folder")
    (line,) = _problems([f"data.cache_root={tmp_path / 'cache'}"])
    assert line == f"s.yaml: data.cache_root: {tmp_path / 'cache'}: exists and is not a folder"

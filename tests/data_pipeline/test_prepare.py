"""Tests for data_pipeline/prepare.py: warming the cache with a sweep's step lists."""

from __future__ import annotations

from pathlib import Path

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.prepare import distinct_step_lists, warm_cache
from data_pipeline.preprocess import NO_PREPROCESSING_STEPS, PAPER_STEPS, step

SKULL = (step("hu_window"), step("remove_skull"), step("minmax"), step("crop_to_brain"))
PAPER_SKULL = (step("hu_window"), step("remove_skull", {"method": "paper"}), step("minmax"),
               step("crop_to_brain"))


def test_step_lists_are_distinct_up_to_defaults() -> None:
    spelled = (step("hu_window", {"low": 0.0}), step("minmax", {"background": "zero"}))
    lists = distinct_step_lists([SKULL, NO_PREPROCESSING_STEPS, spelled, PAPER_SKULL, SKULL])
    assert lists == [SKULL, NO_PREPROCESSING_STEPS, PAPER_SKULL]


def test_warms_the_cache_once_and_then_hits(tmp_path: Path, make_cohort) -> None:
    refs = load_cohort(make_cohort(patients=2, shape=(32, 32, 32), seed=0))
    lists = [SKULL, NO_PREPROCESSING_STEPS, PAPER_SKULL]
    first = warm_cache(refs, lists, tmp_path / "cache", progress=False)
    assert (first.cached, first.built, first.failed) == (0, 6, ())
    assert len(list((tmp_path / "cache" / "preprocessed").rglob("*.npz"))) == 6
    again = warm_cache(refs, [*lists, PAPER_STEPS], tmp_path / "cache", progress=False)
    assert (again.cached, again.built) == (6, 2)


def test_a_case_that_fails_is_reported_and_the_others_are_built(
    tmp_path: Path, make_cohort
) -> None:
    refs = load_cohort(make_cohort(patients=2, shape=(32, 32, 32), seed=0))
    for dicom in sorted(refs[0].image.iterdir())[:1]:
        dicom.write_bytes(b"not a dicom file")
    result = warm_cache(refs, [NO_PREPROCESSING_STEPS], tmp_path / "cache", progress=False)
    assert result.built == 1
    assert [key for key, _ in result.failed] == [refs[0].key]


def test_the_notes_of_each_case_read_are_returned(tmp_path: Path, make_cohort) -> None:
    """Issue 28: what a case folder holds besides its CT reaches the sweep's pre-flight,
    in the readers' words, when the case is read (a cached case is not read again)."""
    refs = load_cohort(make_cohort(patients=2, shape=(32, 32, 32), seed=0))
    (refs[1].image / "export-notes.txt").write_text("exported by PACS\n")
    first = warm_cache(refs, [NO_PREPROCESSING_STEPS], tmp_path / "cache", progress=False)
    assert first.notes == {refs[1].key: ("ignored 1 non-DICOM file(s): export-notes.txt",)}
    again = warm_cache(refs, [NO_PREPROCESSING_STEPS], tmp_path / "cache", progress=False)
    assert (again.cached, again.notes) == (2, {})

"""Tests of platform/sweep/context.py: the cohort made explicitly, folds planned once, the
context."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.cohort.cohort import load_cohort
from platform.config import load_sweep
from platform.sweep.context import build_context, materialize_cohort, synthetic_cohort_path
from platform.sweep.expand import sweep_id

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


def test_the_synthetic_cohort_is_generated_once_where_its_settings_say(tmp_path: Path) -> None:
    sweep = load_sweep(TINY, [f"data.cache_root={tmp_path}"])
    target = synthetic_cohort_path(sweep.data)
    assert not target.exists()
    assert materialize_cohort(sweep.data, progress=False) == target
    assert len(load_cohort(target)) == 4
    stamp = (target / "cohort.yaml").stat().st_mtime_ns
    assert materialize_cohort(sweep.data, progress=False) == target
    assert (target / "cohort.yaml").stat().st_mtime_ns == stamp  # not written again
    other = load_sweep(TINY, [f"data.cache_root={tmp_path}", "data.synthetic.seed=1"])
    assert synthetic_cohort_path(other.data) != target


def test_a_named_cohort_is_used_as_it_is(tmp_path: Path) -> None:
    sweep = load_sweep(TINY, [f"data.cohort={tmp_path / 'mine'}"])
    assert materialize_cohort(sweep.data) == tmp_path / "mine"


def test_the_context_carries_the_folds_and_the_shared_settings(tmp_path: Path) -> None:
    sweep = load_sweep(TINY, [f"data.cache_root={tmp_path}", "cv.run_folds=[1]",
                              f"tracking.uri=sqlite:///{tmp_path / 'm.db'}"])
    cohort = materialize_cohort(sweep.data, progress=False)
    context = build_context(sweep, cohort, parent_run_id="p1")
    keys = sorted(ref.key for ref in load_cohort(cohort))
    assert [f.index for f in context.folds] == [0, 1] and context.run_folds == (1,)
    assert sorted(k for f in context.folds for k in f.test) == keys
    for fold in context.folds:
        assert set(fold.train) | set(fold.test) == set(keys)
        assert not set(fold.train) & set(fold.test)
    assert context.sweep_id == sweep_id(sweep) and context.parent_run_id == "p1"
    assert context.tracking_uri == f"sqlite:///{tmp_path / 'm.db'}"
    assert context.experiment == "tiny" and context.cpus_per_trial == 1.0


def test_stratification_needs_masks(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    (cohort / "a").mkdir(parents=True)
    sweep = load_sweep(TINY, ["cv.stratify_by_lesion_volume=true"])
    refs_file = cohort / "cohort.yaml"
    refs_file.write_text("version: 1\ncases:\n  - {key: a, dicom: a}\n  - {key: b, dicom: a}\n")
    with pytest.raises(ValueError, match="has no lesion mask"):
        build_context(sweep, cohort, parent_run_id=None)

"""Tests for data_pipeline/prepare.py: the cache-warming command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from data_pipeline.prepare import main, step_lists
from data_pipeline.preprocess import PAPER_STEPS, StepSpec
from data_pipeline.synthetic import generate_cohort

SWEEP = {
    "name": "warm",
    "base": {"preprocessing": {"steps": ["hu_window", "remove_skull", "minmax", "crop_to_brain"]}},
    "variants": [
        {"name": "none", "preprocessing": {"steps": ["hu_window", "minmax"]}},
        {"name": "same_as_base"},
        {"name": "paper", "preprocessing": {"steps": [
            "hu_window", {"remove_skull": {"method": "paper"}},
            {"name": "minmax", "params": {}}, "crop_to_brain"]}},
    ],
}


def test_step_lists_are_distinct_and_follow_the_variants() -> None:
    lists = step_lists(SWEEP)
    assert [[s.name for s in steps] for steps in lists] == [
        ["hu_window", "remove_skull", "minmax", "crop_to_brain"],
        ["hu_window", "minmax"],
        ["hu_window", "remove_skull", "minmax", "crop_to_brain"],
    ]
    assert lists[2][1] == StepSpec("remove_skull", {"method": "paper"})
    assert step_lists({"variants": [{"name": "final"}]}) == [PAPER_STEPS]


def test_bad_steps_name_the_variant() -> None:
    bad = {"variants": [{"name": "x", "preprocessing": {"steps": ["hu_window", "minmaks"]}}]}
    with pytest.raises(ValueError, match=r"variants\[0\] \(x\).*minmax"):
        step_lists(bad)


def test_warms_the_cache_once_and_then_hits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cohort = tmp_path / "cohort"
    generate_cohort(cohort, 2, (32, 32, 32), 0, progress=False)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({**SWEEP, "data": {
        "cohort": str(cohort), "cache_root": str(tmp_path / "cache")}}))
    assert main([str(sweep), "--no-progress"]) == 0
    assert "0 already cached, 6 built, 0 failed" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "preprocessed").rglob("*.npz"))) == 6
    assert main([str(sweep), "--no-progress"]) == 0
    assert "6 already cached, 0 built" in capsys.readouterr().out


def test_synthetic_sweeps_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({**SWEEP, "data": {"cohort": None}}))
    assert main([str(sweep)]) == 0
    assert "--cohort" in capsys.readouterr().out
    sweep.write_text("variants: [{preprocessing: {steps: [nope]}}]")
    assert main([str(sweep)]) == 2
    assert "nope" in capsys.readouterr().err

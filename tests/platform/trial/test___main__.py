"""``python -m platform.trial`` (:mod:`platform.trial.__main__`): one trial without Ray.

Its refusals, which exit 2 before any cohort is made or any training starts; the trial
it runs is tested in ``test_run.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platform.trial.__main__ import main

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


def test_a_variant_or_fold_the_sweep_lacks_exits_2_listing_what_it_has(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the sweep's relative defaults (runs/) would land here
    assert main([str(TINY), "--variant", "nope", "--fold", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "no trial for variant 'nope' fold 0; variants: ['plain', 'final'], folds: [0]")
    assert main([str(TINY), "--variant", "final", "--fold", "1"]) == 2  # cv.run_folds: [0]
    assert "no trial for variant 'final' fold 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_sweep_file_or_override_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(TINY), "train.iteratons=3", "--variant", "final", "--fold", "0"]) == 2
    err = capsys.readouterr().err
    assert "train.iteratons" in err and "iterations" in err  # did you mean
    missing = tmp_path / "none.yaml"
    assert main([str(missing), "--variant", "final", "--fold", "0"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_variant_and_fold_are_required() -> None:
    with pytest.raises(SystemExit) as exited:
        main([str(TINY), "--fold", "0"])
    assert exited.value.code == 2

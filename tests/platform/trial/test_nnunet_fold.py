"""Tests of platform/trial/nnunet_fold.py: what nnU-Net is handed (fast; the run itself is
trial/test_baseline_fold.py's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from platform.config.request import FoldKeys, SweepContext
from platform.trial.baselines import BASELINES
from platform.trial.nnunet_fold import (
    DATASET_NAME,
    NnUNetFold,
    NnUNetWorkspace,
    _check_split,
    nnunet_environment,
    run_length,
    trial_device_for,
    workspace_key,
)

pytest.importorskip("nnunetv2", reason='pip install -e ".[baselines]"')


def _context(folds: tuple[FoldKeys, ...], fingerprint: str = "data") -> SweepContext:
    return SweepContext(cohort="/c", cache_root="/cache", folds=folds, run_folds=(0,), cv_seed=0,
                        tracking_uri="sqlite:///x.db", experiment="e", sweep_id="s",
                        cpus_per_trial=1.0, gpus_per_trial=0.0, data_fingerprint=fingerprint)


def test_the_workspace_is_keyed_by_data_and_split() -> None:
    split = (FoldKeys(index=0, train=("a",), test=("b",)),
             FoldKeys(index=1, train=("b",), test=("a",)))
    other = (FoldKeys(index=0, train=("b",), test=("a",)),
             FoldKeys(index=1, train=("a",), test=("b",)))
    key = workspace_key(_context(split))
    assert key == workspace_key(_context(split))
    assert key != workspace_key(_context(other))
    assert key != workspace_key(_context(split, fingerprint="other data"))


def test_the_environment_points_into_the_workspace_and_is_restored(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("nnUNet_raw", "/before")
    monkeypatch.delenv("nnUNet_n_proc_DA", raising=False)
    workspace = NnUNetWorkspace(tmp_path)
    params = BASELINES.spec("nnunet", {"workers": 0}).params
    with nnunet_environment(workspace, tmp_path / "results" / "k", params):
        assert os.environ["nnUNet_raw"] == str(tmp_path / "raw")
        assert os.environ["nnUNet_preprocessed"] == str(tmp_path / "preprocessed")
        assert os.environ["nnUNet_results"] == str(tmp_path / "results" / "k")
        assert (os.environ["nnUNet_n_proc_DA"], os.environ["nnUNet_def_n_proc"]) == ("0", "1")
    assert os.environ["nnUNet_raw"] == "/before" and "nnUNet_n_proc_DA" not in os.environ
    assert workspace.preprocessed == tmp_path / "preprocessed" / DATASET_NAME


def test_only_the_run_length_given_is_set_on_the_trainer() -> None:
    assert run_length(BASELINES.spec("nnunet").params) == {}  # nnU-Net's 1000 x 250
    assert run_length(BASELINES.spec("nnunet", {"epochs": 3, "iterations_per_epoch": 7}).params) \
        == {"num_epochs": 3, "num_iterations_per_epoch": 7}


def test_the_device_follows_the_trial_unless_named() -> None:
    given = torch.device("cuda", 1)
    assert trial_device_for(BASELINES.spec("nnunet").params, given) == given
    cpu = BASELINES.spec("nnunet", {"device": "cpu"}).params
    assert trial_device_for(cpu, given) == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' asked for, but this trial has no GPU"):
            trial_device_for(BASELINES.spec("nnunet", {"device": "cuda"}).params, given)


def test_predictions_of_other_patients_than_the_folds_are_refused(tmp_path: Path) -> None:
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "case-001.nii.gz").write_bytes(b"")
    result = NnUNetFold(folder=tmp_path, predictions=tmp_path / "validation",
                        train_seconds=0.0, predict_seconds=0.0)
    _check_split(result, ["case-001"])
    with pytest.raises(RuntimeError, match="not the fold's test patients"):
        _check_split(result, ["case-002"])

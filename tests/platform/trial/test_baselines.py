"""Tests of platform/trial/baselines.py: the baseline part, its parameters, its requirement."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from data_pipeline.parts import ParamsError, UnknownNameError
from platform.config.trial import TrialConfig
from platform.trial import baselines
from platform.trial.baselines import BASELINES, INSTALL_BASELINES, NnUNetParams, missing_requirement

REPO = Path(__file__).resolve().parents[3]


def test_nnunet_defaults_are_nnunets_own() -> None:
    params = BASELINES.spec("nnunet").params
    assert isinstance(params, NnUNetParams)
    assert (params.configuration, params.trainer) == ("3d_fullres", "nnUNetTrainer")
    # null: the trainer's own 1000 epochs x 250 iterations, 50 validation iterations
    assert (params.epochs, params.iterations_per_epoch, params.val_iterations_per_epoch,
            params.workers) == (None, None, None, None)
    for name, field in NnUNetParams.model_fields.items():  # each default says whose it is
        text = " ".join((field.description or "").split())
        assert "nnU-Net's default" in text or "is ours" in text, name


def test_unknown_or_bad_parameters_are_refused_by_name() -> None:
    with pytest.raises(ParamsError, match="epoch"):
        BASELINES.spec("nnunet", {"epoch": 2})
    with pytest.raises(ParamsError, match="configuration"):
        BASELINES.spec("nnunet", {"configuration": "3d_fulres"})
    with pytest.raises(ParamsError, match="epochs"):
        BASELINES.spec("nnunet", {"epochs": 0})
    with pytest.raises(UnknownNameError, match="nnunet"):
        BASELINES.spec("nnunnet")


def test_a_baseline_config_is_keyed_by_its_own_sections_only() -> None:
    plain = TrialConfig()
    assert "baseline" not in plain.identity()  # our rows keep the keys they had
    nnunet = TrialConfig.model_validate({"baseline": {"name": "nnunet", "epochs": 2}})
    other_model = nnunet.with_overrides({"model.base_width": 4, "train.iterations": 3})
    assert set(nnunet.identity()) == {"baseline", "eval"}
    assert nnunet.identity() == other_model.identity()  # nothing else reaches nnU-Net
    assert nnunet.identity() != nnunet.with_overrides({"baseline.epochs": 3}).identity()


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(baselines.importlib.util, "find_spec",
                        lambda name, *a: None if name == "nnunetv2" else real(name, *a))
    assert missing_requirement("nnunet") == (
        "baseline 'nnunet' needs the package 'nnunetv2', which is not installed; install the "
        f"baselines extra: {INSTALL_BASELINES}")
    monkeypatch.undo()
    if importlib.util.find_spec("nnunetv2") is not None:
        assert missing_requirement("nnunet") is None


def test_a_sweep_naming_nnunet_without_it_is_refused_before_ray(tmp_path: Path) -> None:
    """The real CLI in a subprocess whose nnunetv2 cannot be imported: exit 2, one line
    with the install command, and Ray never imported."""
    script = (
        "import sys\n"
        "sys.modules['nnunetv2'] = None  # blocked: find_spec answers None, import fails\n"
        "from platform.sweep.__main__ import main\n"
        f"code = main(['sweeps/baselines.yaml', 'data.synthetic.patients=4', 'cv.folds=2', "
        f"'data.cache_root={tmp_path / 'cache'}', 'ray.storage_path={tmp_path / 'ray'}', "
        f"'tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}'])\n"
        "print('ray imported:', 'ray' in sys.modules)\n"
        "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert ("sweeps/baselines.yaml: variants[1].baseline: variant 'nnunet': baseline 'nnunet' "
            "needs the package 'nnunetv2', which is not installed; install the baselines "
            f"extra: {INSTALL_BASELINES}") in done.stderr
    assert "ray imported: False" in done.stdout
    assert not (tmp_path / "ray").exists()

"""The trial's portable model (:mod:`platform.trial.portable_model`): the tracking stage's
pyfunc wired with the trial's network builder and segmentation.

The slow test loads the session's trained trial (``trained_trial``) through
``mlflow.pyfunc`` in a fresh process outside any repository, as a lab would after
``pip install``; the fast one loads the small model kept in ``tests/fixtures`` without
MLflow and compares it with the trial's own network and :func:`segment_volume`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from setuptools.config.pyprojecttoml import read_configuration

from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.preprocess.remove_skull import brain_mask
from platform.config.trial import TrialConfig
from platform.evaluation.metrics import segmentation_metrics
from platform.inference.segment import segment_volume
from platform.trial.parts import network
from platform.trial.portable_model import LesionSegmentationModel
from tests.platform.trial.harness import REPO

FIXTURES = REPO / "tests" / "fixtures"


@pytest.mark.usefixtures("one_torch_thread")
def test_the_wired_model_rebuilds_the_trials_network_and_segments_as_its_evaluation() -> None:
    artifacts = FIXTURES / "model_before_stage_layout" / "artifacts"
    weights, config_file = artifacts / "weights.pt", artifacts / "config.json"
    model = LesionSegmentationModel()
    # What MLflow hands load_context: the paths of the model's artifacts.
    model.load_context(SimpleNamespace(artifacts={"weights": str(weights),
                                                  "config": str(config_file)}))
    config = TrialConfig.model_validate(json.loads(config_file.read_text()))
    rebuilt = network(config)
    rebuilt.load_state_dict(torch.load(weights, weights_only=True))
    assert model.config == config and model.network is not None
    assert not model.network.training
    loaded = model.network.state_dict()
    assert loaded.keys() == rebuilt.state_dict().keys()
    for key, value in rebuilt.state_dict().items():
        assert torch.equal(loaded[key].cpu(), value), key
    volume = np.load(FIXTURES / "model_before_stage_layout_io.npz")["volume"]
    mask = model.predict(None, volume)
    assert mask.shape == volume.shape and mask.dtype == np.uint8 and mask.any()
    expected = segment_volume(rebuilt.to(model.device).eval(), config, volume,
                              device=model.device)
    np.testing.assert_array_equal(mask, expected)


def install_like_pip(target: Path) -> Path:
    """Lay this checkout out in ``target`` as ``pip install`` of the project would.

    The packages ``[tool.setuptools.packages.find]`` includes (their ``.py`` files: the
    project ships no package data) and the ``stroke_cli`` module, nothing else: no
    tests, no sweeps, no ``pyproject.toml``. Building a wheel would take longer and
    write ``build/`` into the checkout; what the model needs at load time is the same.
    """
    config = read_configuration(REPO / "pyproject.toml")["tool"]["setuptools"]
    packages = config["packages"]  # resolved by setuptools from packages.find
    assert {"platform", "platform.tracking", "models", "data_pipeline"} <= set(packages)
    for package in packages:
        source = REPO.joinpath(*package.split("."))
        for module in source.glob("*.py"):
            destination = target.joinpath(*package.split("."), module.name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module, destination)
    for module in config["py-modules"]:
        shutil.copyfile(REPO / f"{module}.py", target / f"{module}.py")
    return target


_LOAD_AND_PREDICT = """
import json, os, site, sys
site.addsitedir(sys.argv[1])  # after the standard library, as site-packages is
import mlflow, numpy as np, torch
torch.set_num_threads(1)  # the trial's train.threads: the same sums, the same mask
mlflow.set_tracking_uri(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[3])
np.save(sys.argv[5], model.predict(np.load(sys.argv[4])))
names = ("stroke_cli", "platform.trial.portable_model", "platform.inference.segment", "models",
         "data_pipeline")
print(json.dumps({"files": [sys.modules[n].__file__ for n in names],
                  "platform": list(sys.modules["platform"].__path__),
                  "system": sys.modules["platform"].system(), "cwd": os.getcwd()}))
"""


@pytest.mark.slow
def test_logged_model_loads_outside_the_repository_and_predicts_the_trials_mask(
        trained_trial, tmp_path):
    """Issue 13: a fresh process in a folder outside any repository, with the project
    installed, loads the trial's model through ``mlflow.pyfunc`` and predicts, for a
    held-out patient, the mask the trial scored (same Dice, sensitivity, precision)."""
    context, outcome = trained_trial["context"], trained_trial["outcome"]
    site_dir = install_like_pip(tmp_path / "site-packages")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert subprocess.run(["git", "-C", str(elsewhere), "rev-parse"],
                          capture_output=True).returncode != 0  # not inside a repository
    refs = {ref.key: ref for ref in load_cohort(Path(context.cohort))}
    row = outcome.rows[0]
    case = load_case(refs[str(row["case"])])
    np.save(tmp_path / "hu.npy", case.hu.astype(np.float32))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(site_dir), context.tracking_uri,
         f"runs:/{outcome.training_run_id}/model", str(tmp_path / "hu.npy"),
         str(tmp_path / "mask.npy")],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(Path(f).is_relative_to(site_dir) for f in loaded["files"]), loaded
    assert loaded["platform"] == [str(site_dir / "platform")]
    assert loaded["system"] == "Linux" and loaded["cwd"] == str(elsewhere)
    mask = np.load(tmp_path / "mask.npy")
    assert mask.shape == case.hu.shape and mask.dtype == np.uint8 and mask.any()
    scored = segmentation_metrics(mask, case.lesion, case.geometry.spacing, brain_mask(case.hu))
    for metric in ("dice", "sensitivity", "precision", "specificity"):
        assert scored[metric] == pytest.approx(float(row[metric]), abs=1e-12), metric

"""One trial end to end on a synthetic DICOM cohort (issue 7, "Done when").

A short CPU training run through the real pieces: the synthetic cohort (pydicom series,
NIfTI masks), the preprocessing cache, TorchIO samplers, the registry's U-Net, the
training loop, tiled inference, metrics and an MLflow SQLite store.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import highdicom
import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml
from mlflow import MlflowClient
from setuptools.config.pyprojecttoml import read_configuration

import models
from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.io.dicom import read_series
from data_pipeline.parts import NoParams
from data_pipeline.preprocess.remove_skull import brain_mask
from data_pipeline.synthetic.generator import phi_values
from models.registry import LOSSES
from platform.config import load_sweep
from platform.config.request import TrialRequest
from platform.evaluation.metrics import segmentation_metrics
from platform.postprocessing.predict import main as predict_main
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.tracking import load_trial_model
from platform.tracking.payloads import config_params
from platform.trial.fold import load_data
from platform.trial.run import ConsoleReporter, run_trial
from platform.trial.stops import TrainingStopped
from platform.trial.training import CHECKPOINT_FILE, NonFiniteLossError

REPO = Path(__file__).resolve().parents[2]

# Small enough for CI on 2 cores (~1 min), large enough to learn the hypodense lesions:
# 4 training patients, 32^3 patches, a width-8 U-Net and a constant learning rate of 1e-3.
LEARNING_OVERRIDES = [
    "data.synthetic.patients=6", "data.synthetic.shape=[56,80,80]", "cv.folds=3",
    "sampler.patch_size=[32,32,32]", "sampler.patches_per_patient=8",
    "sampler.queue_length=16", "model.base_width=8", "model.depth=3",
    "schedule.name=constant", "optimizer.lr=1.0e-3", "train.iterations=80",
    "train.checkpoint_every=40", "train.log_every=5", "eval.figure_patients=1",
]


def _context(tmp: Path, cache: Path, overrides: list[str]):
    sweep = load_sweep(REPO / "sweeps" / "tiny.yaml", [
        f"data.cache_root={cache}", f"tracking.uri=sqlite:///{tmp / 'mlruns' / 'mlflow.db'}",
        *overrides,
    ])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    return context, {(s.variant, s.fold): s for s in keyed(expand(sweep), context)}


def _run(spec, context, work: Path, *, fresh: bool = False):
    """Run the trial; ``fresh``: train even where the store holds the same training."""
    reporter = ConsoleReporter(work / "checkpoint", iterations=spec.config.train.iterations)
    request = TrialRequest(spec=spec, context=context,
                           fresh_after_ms=int(time.time() * 1000) if fresh else None)
    (outcome,) = run_trial(request, reporter, work_dir=work)
    return outcome


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, cache_root: Path):
    """The final variant trained for 80 iterations on fold 0, logged to a SQLite store."""
    torch.set_num_threads(2)
    tmp = tmp_path_factory.mktemp("trial")
    context, specs = _context(tmp, cache_root, LEARNING_OVERRIDES)
    spec = specs[("final", 0)]
    outcome = _run(spec, context, tmp / "work")
    return {"tmp": tmp, "context": context, "spec": spec, "outcome": outcome}


def _history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_short_training_lowers_loss_and_beats_chance(trained):
    context, outcome = trained["context"], trained["outcome"]
    client = MlflowClient(tracking_uri=context.tracking_uri)
    losses = _history(client, outcome.training_run_id, "train_loss")
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3])
    # Chance = predicting every cropped voxel as lesion: Dice 2p / (1 + p) for lesion
    # fraction p. The synthetic lesions are 3-8 HU below tissue with 5 HU noise, so a
    # network that learned anything beats it several times over (0.6 measured here); 3x
    # chance and 0.15 leave room for the spread of an 80-iteration CPU run.
    assert len(outcome.rows) == 2  # 6 patients in 3 folds: two held-out patients
    held_out = load_data(trained["spec"].config, context, context.folds[0]).eval
    fraction = float(np.mean([case.lesion.mean() for case in held_out]))
    chance = 2 * fraction / (1 + fraction)
    assert outcome.fold_means["dice"] > max(0.15, 3 * chance)


@pytest.mark.slow
def test_mlflow_run_holds_every_param_metric_and_artifact(trained):
    context, spec, outcome = trained["context"], trained["spec"], trained["outcome"]
    client = MlflowClient(tracking_uri=context.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert set(config_params(spec.config.model_dump(mode="json"))) <= set(params)
    assert params["model.se_ratio"] == "16" and params["optimizer.lr"] == "0.001"
    tags = run.data.tags
    assert tags["variant"] == "final" and tags["fold"] == "0"
    assert tags["trial_id"] == spec.trial_id and tags["sweep_id"] == context.sweep_id
    assert len(tags["git_commit"]) in (40, 7) or tags["git_commit"] == "unknown"
    assert "torch_version" in tags and "host" in tags
    assert tags["training_run"] == outcome.training_run_id
    assert tags["evaluation_key"] == spec.evaluation_key
    assert tags["device"].startswith("CPU")
    training = client.get_run(outcome.training_run_id)
    assert training.data.tags["run_kind"] == "training"
    assert training.data.tags["training_key"] == spec.training_key == tags["training_key"]
    for key in ("train_loss", "lr", "iterations_per_s"):
        # every 5 of 80 iterations, on the training run
        assert len(client.get_metric_history(outcome.training_run_id, key)) == 16
    for key in ("dice", "sensitivity", "specificity", "precision", "hd95_mm",
                "seconds_per_patient", "patches_per_patient"):
        assert run.data.metrics[key] == pytest.approx(outcome.fold_means[key])
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"per_patient.csv", "config.yaml", "figures"} <= artifacts
    trained_artifacts = {a.path for a in client.list_artifacts(outcome.training_run_id)}
    assert {"config.yaml", "lesion_loss.csv", "figures"} <= trained_artifacts
    losses = list(csv.DictReader(io.StringIO(Path(client.download_artifacts(
        outcome.training_run_id, "lesion_loss.csv", str(trained["tmp"]))).read_text())))
    assert sorted(row["role"] for row in losses) == ["test"] * 2 + ["train"] * 4
    assert all(0.0 <= float(row["lost_fraction"]) <= 0.005 for row in losses)
    local = Path(client.download_artifacts(outcome.run_id, "per_patient.csv", str(trained["tmp"])))
    rows = list(csv.DictReader(io.StringIO(local.read_text())))
    assert [r["case"] for r in rows] == [r["case"] for r in outcome.rows]
    config = yaml.safe_load(Path(client.download_artifacts(
        outcome.run_id, "config.yaml", str(trained["tmp"]))).read_text())
    assert config["model"]["se_ratio"] == 16
    figures = {f.path for f in client.list_artifacts(outcome.run_id, "figures")}
    assert len(figures) == 1 and all(f.startswith("figures/case-") and f.endswith(".png")
                                     for f in figures)  # the overlay of one held-out patient
    curves = {f.path for f in client.list_artifacts(outcome.training_run_id, "figures")}
    assert curves == {f"figures/learning_curves.{s}" for s in ("png", "svg", "json")}
    model, resolved = load_trial_model(context.tracking_uri, outcome.run_id)
    assert isinstance(model, torch.nn.Module) and resolved["model"]["base_width"] == 8


@pytest.mark.slow
def test_no_identifier_reaches_mlflow_or_the_cache(trained, cache_root):
    context = trained["context"]
    identifiers = phi_values(Path(context.cohort))
    assert len(identifiers) >= 5  # the synthetic headers do carry PHI
    written = [*(trained["tmp"] / "mlruns").rglob("*"), *(cache_root / "preprocessed").rglob("*")]
    blobs = [p.read_bytes() for p in written if p.is_file()]
    assert blobs
    for value in identifiers:
        needle = value.encode()
        assert not any(needle in blob for blob in blobs), "an identifier leaked"


@pytest.mark.slow
def test_predict_writes_a_mask_on_the_original_dicom_grid(trained, tmp_path):
    context, outcome = trained["context"], trained["outcome"]
    ref = load_cohort(Path(context.cohort))[0]
    out = tmp_path / "mask.nii.gz"
    code = predict_main(["--model", outcome.run_id, "--dicom", str(ref.dicom_dir),
                         "--out", str(out), "--tracking-uri", context.tracking_uri])
    assert code == 0
    mask = sitk.ReadImage(str(out))
    series = read_series(ref.dicom_dir, case_key=ref.key)
    assert sitk.GetArrayFromImage(mask).shape == series.hu.shape
    assert np.allclose(mask.GetSpacing(), series.geometry.spacing[::-1], atol=1e-4)
    assert np.allclose(mask.GetOrigin(), series.geometry.origin, atol=1e-3)
    assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1}
    seg_path = tmp_path / "mask.dcm"
    assert predict_main(["--model", outcome.run_id, "--dicom", str(ref.dicom_dir),
                         "--out", str(seg_path), "--tracking-uri", context.tracking_uri]) == 0
    seg = highdicom.seg.segread(seg_path)
    assert seg.Modality == "SEG" and seg.number_of_segments == 1
    volume = seg.get_volume()  # the frames that hold the lesion, on the source grid
    expected = sitk.GetArrayFromImage(mask)
    assert volume.array.shape[1:3] == expected.shape[1:]
    assert int(volume.array.sum()) == int(expected.sum())


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
        trained, tmp_path):
    """Issue 13: a fresh process in a folder outside any repository, with the project
    installed, loads the trial's model through ``mlflow.pyfunc`` and predicts, for a
    held-out patient, the mask the trial scored (same Dice, sensitivity, precision)."""
    context, outcome = trained["context"], trained["outcome"]
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


def test_resumed_trial_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, cache_root):
    torch.set_num_threads(1)
    quick = ["train.checkpoint_every=2", "train.log_every=2", "eval.figure_patients=0"]
    context, specs = _context(tmp_path, cache_root, [*quick, "train.iterations=4"])
    straight = _run(specs[("final", 0)], context, tmp_path / "straight")
    # The same trial stopped at its checkpoint of iteration 2, then restarted for 4.
    _, short = _context(tmp_path, cache_root, [*quick, "train.iterations=2"])
    _run(short[("final", 0)], context, tmp_path / "resumed")
    resumed = _run(specs[("final", 0)], context, tmp_path / "resumed", fresh=True)
    state = torch.load(tmp_path / "resumed" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 4
    first, _ = load_trial_model(context.tracking_uri, straight.run_id)
    second, _ = load_trial_model(context.tracking_uri, resumed.run_id)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.fixture
def exploding_loss():
    """A lab's own loss registered from outside ``models``: NaN from its third call."""
    @LOSSES.register("test_nan_on_third_call", params=NoParams)
    def build(params: NoParams, *, class_counts) -> torch.nn.Module:  # noqa: ANN001
        class NanOnThird(models.losses.SegmentationLoss):
            calls = 0

            def compute(self, logits, target):
                NanOnThird.calls += 1
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
                return loss * float("nan") if NanOnThird.calls >= 3 else loss

        return NanOnThird()

    yield "test_nan_on_third_call"
    LOSSES.unregister("test_nan_on_third_call")


def test_nan_loss_stops_the_trial_as_failed_and_keeps_the_last_checkpoint(
    tmp_path, cache_root, exploding_loss
):
    torch.set_num_threads(1)
    overrides = ["train.iterations=6", "train.checkpoint_every=2", "train.log_every=1",
                 f"loss.name={exploding_loss}"]
    context, specs = _context(tmp_path, cache_root, overrides)
    spec = specs[("final", 0)]
    with pytest.raises(NonFiniteLossError, match=r"iteration 3 \(last finite loss: [0-9.]+\)"):
        _run(spec, context, tmp_path / "work")
    state = torch.load(tmp_path / "work" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 2
    client = MlflowClient(tracking_uri=context.tracking_uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    (run,) = client.search_runs([experiment], "tags.run_kind = 'training'")
    assert run.info.status == "FAILED"
    assert "iteration 3" in run.data.tags["failure_reason"]
    assert "dice" not in run.data.metrics  # never recorded as a result
    (evaluation,) = client.search_runs([experiment], "tags.run_kind = 'evaluation'")
    assert evaluation.info.status == "FAILED"  # issue 28: Table 1 says why
    assert evaluation.data.tags["failure_reason"].startswith("non-finite loss at iteration 3")
    with pytest.raises(TrainingStopped, match="not retried"):
        _run(spec, context, tmp_path / "work")


def test_one_training_is_evaluated_at_two_overlaps_from_the_same_weights(tmp_path, cache_root):
    """Issue 11 (Table 2): variants that differ in evaluation only share one training."""
    torch.set_num_threads(1)
    overlaps = ["variants=[{name: overlap_25, eval: {inference: {overlap: 0.25}}}, "
                "{name: overlap_50, eval: {inference: {overlap: 0.5}}}]",
                "train.iterations=2", "eval.figure_patients=0"]
    context, specs = _context(tmp_path, cache_root, overlaps)
    first, second = specs[("overlap_25", 0)], specs[("overlap_50", 0)]
    assert first.training_key == second.training_key
    assert first.evaluation_key != second.evaluation_key
    reporter = ConsoleReporter(tmp_path / "work" / "checkpoint", iterations=2)
    outcomes = run_trial(TrialRequest(spec=first, also_evaluate=(second,), context=context),
                         reporter, work_dir=tmp_path / "work")
    assert len(outcomes) == 2 and outcomes[0].training_run_id == outcomes[1].training_run_id
    client = MlflowClient(tracking_uri=context.tracking_uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    assert len(client.search_runs([experiment], "tags.run_kind = 'training'")) == 1
    runs = [client.get_run(o.run_id) for o in outcomes]
    assert [r.data.tags["variant"] for r in runs] == ["overlap_25", "overlap_50"]
    assert [r.data.params["eval.inference.overlap"] for r in runs] == ["0.25", "0.5"]
    quarter, half = (r.data.metrics for r in runs)
    assert half["patches_per_patient"] > quarter["patches_per_patient"]  # denser grid
    assert quarter["seconds_per_patient"] > 0 and half["seconds_per_patient"] > 0

    # Run again: both evaluations and the training are found by key, nothing is redone.
    again = run_trial(TrialRequest(spec=first, also_evaluate=(second,), context=context),
                      reporter, work_dir=tmp_path / "again")
    assert [o.run_id for o in again] == [o.run_id for o in outcomes]
    assert len(client.search_runs([experiment], "tags.run_kind = 'training'")) == 1

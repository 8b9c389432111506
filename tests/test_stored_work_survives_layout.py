"""Issue 26: what a lab stored before the stage layout is still found and still loads.

The keys below were computed on main before the move (commit 668acd6). A finished sweep
is reused only while the same settings give the same keys, so none may change when code
moves; and a portable model stores an entry file that imports
``platform.tracking.model_flavor.LesionSegmentationModel``, which must keep loading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from platform.config import load_sweep
from platform.config.request import FoldKeys, SweepContext
from platform.sweep.expand import expand, sweep_id
from platform.sweep.keys import keyed

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PINNED = [
    ("ablation.yaml", "no_preprocessing", 0, "ed3c1a68a4aef20a", "a67eca44cd1642a3"),
    ("ablation.yaml", "weighted_sampler", 0, "8cead0f9f92d4c4b", "dc6cf47e534a971a"),
    ("ablation.yaml", "se", 0, "8e7866fbc7cd49f3", "e70e067c88f7f12c"),
    ("ablation.yaml", "final_hull", 0, "a0085d3a850bedcc", "c056d9134f363722"),
    ("tiny.yaml", "plain", 0, "df3fb8610eef15a0", "792e80fe65941ec2"),
    ("tiny.yaml", "plain", 1, "8ef2b066f715de31", "f41e815bf5a883ed"),
    ("tiny.yaml", "final", 0, "f15997d597dc3b64", "6748b8f2de18056b"),
    ("tiny.yaml", "final", 1, "6acf3fec947f2d29", "1f797f39167cb706"),
    ("quickstart.yaml", "no_preprocessing", 0, "1551b0e59cea0907", "1e1944f3bb74c112"),
    ("quickstart.yaml", "weighted_sampler", 0, "3e7a8a5f7457f1cb", "85ec59d5c9623659"),
    ("quickstart.yaml", "se", 0, "7c542a2218787acf", "d85a4e4727975278"),
    ("quickstart.yaml", "final_hull", 0, "d1b8135181a6ae22", "e1c87a87b55243da"),
    ("overlap.yaml", "overlap_25", 3, "13eca822300d5bdf", "8deceb99fb0cb812"),
    ("overlap.yaml", "overlap_50", 1, "acabf8734d84da20", "4cf3ac82d5b167a1"),
    ("overlap.yaml", "overlap_75", 2, "54bce43a98ea018b", "bf4406c3566df665"),
]
"""(sweep file, variant, fold, training key, evaluation key) computed before the move."""

PINNED_IDS = {"sweep": "7797355b90", "trial": "final-f0-9742132d19"}
"""tiny.yaml's sweep id and its ``final`` fold-0 trial id (Ray Tune and MLflow names)."""


def _context() -> SweepContext:
    keys = [f"case{i:02d}" for i in range(10)]
    split = tuple(FoldKeys(index=k, train=tuple(c for i, c in enumerate(keys) if i % 5 != k),
                           test=tuple(c for i, c in enumerate(keys) if i % 5 == k))
                  for k in range(5))
    return SweepContext.model_validate({
        "cohort": "/c", "cache_root": "/cache", "folds": split, "run_folds": (0, 1, 2, 3, 4),
        "cv_seed": 0, "tracking_uri": "sqlite:////m.db", "experiment": "e", "sweep_id": "s",
        "cpus_per_trial": 1.0, "gpus_per_trial": 0.0, "data_fingerprint": "data"})


@pytest.mark.parametrize(("sweep_file", "variant", "fold", "training", "evaluation"), PINNED)
def test_work_keys_are_those_computed_before_the_move(sweep_file: str, variant: str, fold: int,
                                                       training: str, evaluation: str) -> None:
    specs = keyed(expand(load_sweep(SWEEPS / sweep_file, []), every_fold=True), _context())
    (spec,) = [s for s in specs if s.variant == variant and s.fold == fold]
    assert (spec.training_key, spec.evaluation_key) == (training, evaluation)


def test_sweep_and_trial_ids_are_those_computed_before_the_move() -> None:
    sweep = load_sweep(SWEEPS / "tiny.yaml", [])
    (spec,) = [s for s in expand(sweep) if s.variant == "final"]
    assert (sweep_id(sweep), spec.trial_id) == (PINNED_IDS["sweep"], PINNED_IDS["trial"])


def test_a_model_logged_before_the_move_loads_and_predicts_the_same_mask() -> None:
    import mlflow.pyfunc

    model_dir = FIXTURES / "model_before_stage_layout"
    stored = (model_dir / "model_code.py").read_text()
    assert "from platform.tracking.model_flavor import LesionSegmentationModel" in stored
    expected = np.load(FIXTURES / "model_before_stage_layout_io.npz")
    model = mlflow.pyfunc.load_model(str(model_dir))
    mask = model.predict(expected["volume"])
    assert expected["mask"].sum() > 0
    np.testing.assert_array_equal(mask, expected["mask"])


def test_evaluation_runs_written_as_trial_runs_are_still_read(tmp_path) -> None:
    """Before issue 26 an evaluation run was ``run_kind=trial``: Table 1, reports and
    reuse still find such runs next to new ``run_kind=evaluation`` ones."""
    from mlflow import MlflowClient

    from platform.tracking import fetch_trial_results
    from platform.tracking.tags import PARENT_TAG
    from platform.tracking.work import finished_work

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("old-sweep", artifact_location=str(tmp_path / "a"))
    parent = client.create_run(experiment, tags={"run_kind": "sweep"}).info.run_id
    for fold, kind in ((0, "trial"), (1, "evaluation")):
        run = client.create_run(experiment, tags={
            "run_kind": kind, PARENT_TAG: parent, "variant": "final", "fold": str(fold),
            "trial_id": f"final-f{fold}", "evaluation_key": f"e{fold}",
            "training_key": f"t{fold}"}).info.run_id
        client.log_text(run, f"case,dice\ncase-00{fold},0.5\n", "per_patient.csv")
        client.set_terminated(run, "FINISHED")
    results = fetch_trial_results(uri, parent)
    assert [(r.fold, r.per_patient[0]["dice"]) for r in results] == [(0, 0.5), (1, 0.5)]
    assert set(finished_work(uri, "old-sweep").evaluations) == {"e0", "e1"}

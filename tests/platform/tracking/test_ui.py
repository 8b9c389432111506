"""Issue 23: the MLflow UI opens on the ablation, checked in a real browser
(:mod:`platform.tracking.ui`).

``mlflow ui`` serves the session's finished tiny sweep on 127.0.0.1; headless Chromium
(Debian's ``chromium``, installed by ``.ci/run``) renders the pages a researcher opens:
the address the sweep prints (the evaluation runs, model-training mode, not the GenAI
overview), an evaluation run (its Dice), the experiment's Models tab (models named
``<variant>-fold<k>`` with their Dice) and the parent run's Table 1 and a figure.
Screenshots are saved under the test's folder and copied to ``$ISSUE23_SCREENSHOTS``
(default ``/tmp/issue23-screenshots``) for a reviewer.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from platform.tracking.ui import ui_url
from tests.conftest import free_port
from tests.platform.conftest import _stop, _wait_healthy
from tests.platform.sweep.harness import child_runs

pytestmark = pytest.mark.slow  # the session's tiny sweep, a server start, a browser: ~2 min

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("ISSUE23_SCREENSHOTS", "/tmp/issue23-screenshots"))


def _die_with_parent() -> None:
    """The server gets SIGTERM when the test process dies, even killed (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def mlflow_ui(finished_tiny_sweep: Any, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[str]:
    """``mlflow ui`` on the finished tiny sweep's store; its base URL."""
    root = tmp_path_factory.mktemp("mlflow-ui")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri",
               finished_tiny_sweep.uri, "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    log = root / "ui.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        _stop(process)


def _browse(url: str, shot: Path) -> str:
    """Render ``url`` in headless Chromium: save a screenshot to ``shot``, return the DOM."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium: "
                    "apt-get install chromium)")
    common = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
              "--window-size=1600,1000", "--virtual-time-budget=60000",
              "--run-all-compositor-stages-before-draw",  # the charts draw before the shot
              f"--user-data-dir={shot.parent / 'profile'}"]
    subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=180,
                   check=True)
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                         timeout=180, check=True).stdout
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SHOTS / shot.name)
    return dom


def test_the_printed_address_opens_on_the_evaluation_runs(mlflow_ui: str, finished_tiny_sweep,
                                                           tmp_path: Path) -> None:
    experiment = MlflowClient(finished_tiny_sweep.uri).get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    dom = _browse(ui_url(mlflow_ui, experiment.experiment_id), tmp_path / "1-runs.png")
    assert "Detect Issues" not in dom and "Runs" in dom  # not the GenAI overview
    for run in child_runs(finished_tiny_sweep.uri, "tiny"):
        assert run.info.run_name in dom  # <variant>/fold<k>, flat
    assert "/training" not in dom  # the training runs are filtered out
    assert 'title="dice">dice</h4>' in dom  # the Dice chart, one bar per evaluation run


def test_an_evaluation_run_shows_its_dice(mlflow_ui: str, finished_tiny_sweep,
                                          tmp_path: Path) -> None:
    run = child_runs(finished_tiny_sweep.uri, "tiny")[0]
    url = (f"{mlflow_ui}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
           "?workflowType=machine_learning")
    dom = _browse(url, tmp_path / "2-evaluation-run.png")
    assert run.info.run_name in dom and ">dice<" in dom
    assert str(run.data.metrics["dice"])[:6] in dom  # the value, as the metrics table shows it


def test_the_models_tab_lists_models_by_variant_and_fold_and_a_model_shows_its_dice(
        mlflow_ui: str, finished_tiny_sweep, tmp_path: Path) -> None:
    evaluations = child_runs(finished_tiny_sweep.uri, "tiny")
    experiment_id = evaluations[0].info.experiment_id
    dom = _browse(f"{mlflow_ui}/#/experiments/{experiment_id}/models?workflowType="
                  "machine_learning", tmp_path / "3-models.png")
    for evaluation in evaluations:
        assert f"{evaluation.data.tags['variant']}-fold{evaluation.data.tags['fold']}" in dom
    evaluation = evaluations[0]
    model_id = evaluation.data.tags["model_uri"].removeprefix("models:/")
    dom = _browse(f"{mlflow_ui}/#/experiments/{experiment_id}/models/{model_id}?workflowType="
                  "machine_learning", tmp_path / "3-model.png")
    assert ">dice<" in dom and evaluation.info.run_name in dom  # linked from its evaluation
    assert f"{evaluation.data.metrics['dice']}"[:6] in dom


@pytest.mark.parametrize("artifact", ["table1.md", "figures/table1.png"])
def test_the_parent_runs_table_1_and_figure_load(mlflow_ui: str, finished_tiny_sweep,
                                                 tmp_path: Path, artifact: str) -> None:
    client = MlflowClient(finished_tiny_sweep.uri)
    experiment = client.get_experiment_by_name("tiny")
    parent = client.search_runs([experiment.experiment_id], "tags.run_kind = 'sweep'")[0]
    url = (f"{mlflow_ui}/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}"
           f"/artifactPath/{artifact}?workflowType=machine_learning")
    dom = _browse(url, tmp_path / f"4-parent-{Path(artifact).name.replace('.', '-')}.png")
    if artifact.endswith(".md"):
        assert ">final<" in dom and ">plain<" in dom and ">dice<" in dom  # the table's cells
    else:
        assert "<img" in dom and "table1.png" in dom

"""``benchmarks/gpu_check.py --small`` runs every section and writes a complete, finite JSON.

The small mode exists so that the GPU check cannot rot between the rare GPU slots: it runs
on CPU (or on a GPU where there is one) at toy sizes. Its numbers are not measurements, so
only their presence, finiteness and internal consistency are checked here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("cuda_tests", "train_step", "loader", "inference", "training")
NETWORKS = ("basicunet", "unet3d", "unet3d_residual", "unet3d_residual_se")
MODES = ("float32", "autocast", "autocast+channels_last", "autocast+channels_last+cl_norm",
         "autocast+channels_last+compile")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("gpu-check") / "gpu_check.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--small", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return [float(value)] if is_number else []


@pytest.mark.slow
def test_every_section_measured_without_errors(small_run) -> None:
    data, _ = small_run
    assert data["meta"]["mode"] == "small" and data["meta"]["date"] and data["meta"]["name"]
    assert data["non_finite"] == []
    assert all(math.isfinite(n) for n in _numbers(data))
    for section in SECTIONS:
        assert data[section], section
        errors = [row for row in data[section] if "error" in row]
        assert not errors, errors
    tests = data["cuda_tests"][0]
    assert tests["returncode"] == 0 and tests["files"] >= 1


@pytest.mark.slow
def test_step_rows_cover_every_network_and_mode(small_run) -> None:
    data, _ = small_run
    measured = {(r["network"], r["mode"]) for r in data["train_step"] if "seconds" in r}
    assert {(n, m) for n in NETWORKS for m in MODES[:4]} <= measured
    assert {("unet3d_residual_se", MODES[4]), ("basicunet", MODES[4])} <= measured
    skipped = [r for r in data["train_step"] if "skipped" in r]
    assert all(r["mode"] == MODES[4] and "--compile-all" in r["skipped"] for r in skipped)
    steps = [r for r in data["train_step"] if "seconds" in r]
    assert all(r["seconds"] > 0 and math.isfinite(r["loss"]) and r["params"] > 0 for r in steps)
    assert {r["dtype"] for r in steps if "autocast" in r["mode"]} <= {"bfloat16", "float16"}


@pytest.mark.slow
def test_inference_rows_agree_with_the_anchors_inside_the_brain(small_run) -> None:
    data, _ = small_run
    overlaps = {row["overlap"] for row in data["inference"]}
    assert overlaps == {0.25, 0.5}
    for overlap in overlaps:
        rows = {r["contender"]: r for r in data["inference"] if r["overlap"] == overlap}
        assert set(rows) == {"ours", "monai", "torchio"}
        assert rows["ours"]["patches"] <= rows["monai"]["patches"] == rows["torchio"]["patches"]
        for anchor in ("monai", "torchio"):
            if not torch.cuda.is_available():  # float32 on CPU: the same probabilities
                assert rows[anchor]["max_abs_diff_in_brain"] < 1e-5
                assert rows[anchor]["mask_voxels_differing_in_brain"] == 0


@pytest.mark.slow
def test_projection_follows_from_the_measured_rows(small_run) -> None:
    data, stdout = small_run
    training = data["training"][0]
    assert training["iterations"] == 4 and training["iterations_per_s"] > 0
    per_patient = next(r["seconds"] for r in data["inference"]
                       if r["overlap"] == 0.25 and r["contender"] == "ours")
    projection = data["projection"]
    trial = 40_000 / training["iterations_per_s"] + math.ceil(81 / 5) * per_patient
    assert projection["seconds_per_trial"] == pytest.approx(trial)
    assert projection["hours_one_gpu"] == pytest.approx(30 * trial / 3600)
    assert projection["hours_eight_gpus"] == pytest.approx(4 * trial / 3600)
    assert data["targets"] and all(t["met"] is None for t in data["targets"])  # small: not judged
    for word in ("train step", "loader", "inference", "training", "Table 1", "target"):
        assert word in stdout

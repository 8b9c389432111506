"""``benchmarks/gpu_check.py --small`` runs every section and writes a complete, finite JSON,
and each of its two parts starts with only the modules the GPU machine would have.

The small mode exists so that the GPU check cannot rot between the rare GPU slots: it runs
on CPU (or on a GPU where there is one) at toy sizes. Its numbers are not measurements, so
only their presence, finiteness and internal consistency are checked here.

The GPU machine has torch and a few packages, no registry and nothing else; the check goes
there as two device calls, ``--part core`` and ``--part torchio --merge core.json``, each
with its wheel set (``benchmarks/gpu_wheels.py``). The fixture runs exactly these two calls
with every other installed module refused (``gpu_machine_imports.py``, in the script's
process and in its CUDA-test pytest), so an import that the machine could not satisfy fails
here; the merged JSON is then checked as the single run was before the split.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from gpu_check_report import cuda_test_files
from gpu_wheels import allowed_modules

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SECTIONS = ("cuda_tests", "train_step", "loader", "inference", "training")
NETWORKS = ("basicunet", "unet3d", "unet3d_residual", "unet3d_residual_se")
MODES = ("float32", "autocast", "autocast+channels_last", "autocast+channels_last+cl_norm",
         "autocast+channels_last+compile")
RUN_AS_SCRIPT = """
import sys, runpy
import gpu_machine_imports  # first: refuse what the GPU machine lacks
sys.path.insert(0, {benchmarks!r})  # as when python runs the script
sys.argv = [{script!r}, *sys.argv[1:]]
runpy.run_path({script!r}, run_name="__main__")
"""


def run_part(part: str, out: Path, log: Path, *extra: str) -> subprocess.CompletedProcess:
    """``gpu_check.py --small --part PART`` with only the machine's and the part's modules."""
    env = {
        **os.environ,
        "GPU_MACHINE_MODULES": ",".join(sorted(allowed_modules(part))),
        "GPU_MACHINE_BLOCKED_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "PYTEST_ADDOPTS": "-p gpu_machine_imports",  # the CUDA tests' pytest refuses alike
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # installed plugins are not on the machine
    }  # fmt: skip
    script = str(REPO / "benchmarks" / "gpu_check.py")
    code = RUN_AS_SCRIPT.format(benchmarks=str(REPO / "benchmarks"), script=script)
    return subprocess.run(
        [sys.executable, "-c", code, "--small", "--part", part, "--out", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def refused_by_the_repository(log: Path) -> list[str]:
    """Refused imports that the repository's own files asked for (optional ones included)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if _own_file(line.split(" ", 1)[-1])]


def _own_file(importer: str) -> bool:
    """A file of the repository, not of a package installed in a venv inside it (``.venv``)."""
    path = Path(importer)
    return path.is_relative_to(REPO) and not {"site-packages", "dist-packages"} & set(path.parts)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The two device calls at toy size: core, then torchio merging core's JSON."""
    work = tmp_path_factory.mktemp("gpu-check")
    core = run_part("core", work / "core.json", work / "core-refused.log")
    assert core.returncode == 0, core.stdout[-3000:] + core.stderr[-3000:]
    second = run_part("torchio", work / "gpu_check.json", work / "torchio-refused.log",
                      "--merge", str(work / "core.json"))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    for part in ("core", "torchio"):
        asked = refused_by_the_repository(work / f"{part}-refused.log")
        assert not asked, f"{part}: the repository asked for modules the GPU machine lacks: {asked}"
    return json.loads((work / "gpu_check.json").read_text()), core.stdout + second.stdout


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
    assert data["meta"]["parts"] == ["torchio"] and data["meta"]["merged"]["parts"] == ["core"]
    assert {row["part"] for row in data["cuda_tests"]} == {"core", "torchio"}
    assert all(row["returncode"] == 0 and row["files"] >= 1 for row in data["cuda_tests"])


@pytest.mark.slow
def test_step_rows_cover_every_network_and_mode(small_run) -> None:
    data, _ = small_run
    measured = {(r["network"], r["mode"]) for r in data["train_step"] if "seconds" in r}
    assert {(n, m) for n in NETWORKS for m in MODES[:4]} <= measured
    assert {("unet3d_residual_se", MODES[4]), ("basicunet", MODES[4])} <= measured
    skipped = [r for r in data["train_step"] if "skipped" in r]
    assert all(r["mode"] == MODES[4] and "--compile-all" in r["skipped"] for r in skipped)
    steps = [r for r in data["train_step"] if "seconds" in r]
    assert all(r["seconds"] > 0 and r["params"] > 0 for r in steps)
    # a NaN loss may only come from CPU bf16 kernels, a path no trial takes (gpu_check_train)
    unjudged = [r for r in steps if r["loss"] is None]
    assert all(r["dtype"] == "bfloat16" and "CPU bf16" in r["loss_note"] for r in unjudged)
    assert data["meta"]["device"] == "cpu" or not unjudged
    assert all(math.isfinite(r["loss"]) for r in steps if r["dtype"] == "float32")
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


def test_cuda_test_files_are_split_by_their_torchio_import() -> None:
    core, with_torchio = (cuda_test_files(REPO, torchio=flag) for flag in (False, True))
    marked = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
                    if any(line.lstrip().startswith("@pytest.mark.gpu")
                           for line in p.read_text().splitlines()))
    assert core and with_torchio and sorted(core + with_torchio) == marked
    assert "tests/platform/inference/test_sliding_window.py" in with_torchio
    assert "tests/benchmarks/test_gpu_check.py" not in core  # names the mark, has no such test
    assert not any("import torchio" in (REPO / f).read_text() for f in core)


def test_the_refusing_finder_keeps_not_installed_semantics(tmp_path) -> None:
    """Refused modules look uninstalled (torch's optional imports call find_spec)."""
    code = ("import gpu_machine_imports, importlib.util\n"
            "assert importlib.util.find_spec('torchio') is None\n"
            "try:\n    import torchio\nexcept ModuleNotFoundError:\n    pass\n"
            "else:\n    raise SystemExit('torchio imported')\n"
            "import json, numpy, pydantic, stroke_cli\n")  # stdlib, machine, set, repository
    env = {**os.environ, "GPU_MACHINE_MODULES": ",".join(sorted(allowed_modules("core"))),
           "GPU_MACHINE_BLOCKED_LOG": str(tmp_path / "log"),
           "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "log").read_text().split()[0] == "torchio"

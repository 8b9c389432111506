"""The report of ``gpu_check.py``: rows per section, the CUDA tests, targets, one table and JSON.

A row is its key (what was measured) plus either its numbers, ``skipped`` with a reason or
``error`` with the exception. Non-finite numbers are written as ``null`` and listed under
``non_finite`` so that a NaN never makes the JSON unreadable (or the slot's numbers lost).
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import platform

__all__ = ["Report", "cuda_test_files", "describe_device", "evaluate_targets",
           "run_cuda_tests"]

logger = logging.getLogger("gpu_check")

SECTIONS = ("cuda_tests", "train_step", "loader", "inference", "training")
ANCHOR, FINAL = "basicunet", "unet3d_residual_se"
CHANNELS_LAST = "autocast+channels_last"
COMPILED = CHANNELS_LAST + "+compile"
AUTOCAST_MODES = ("autocast", CHANNELS_LAST, CHANNELS_LAST + "+cl_norm", COMPILED)
BUSY_TARGET = 0.95
TORCHIO_IMPORT = re.compile(r"^\s*(import|from)\s+torchio\b", re.MULTILINE)
GPU_MARK = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\b.*\bpytest\.mark\.gpu\b)",
                      re.MULTILINE)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what Python knows elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def describe_device(device: torch.device, *, small: bool, argv: list[str]) -> dict[str, Any]:
    """What ran the check: device name, capability, versions, date and the command."""
    meta: dict[str, Any] = {
        "device": str(device), "name": cpu_model(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "small" if small else "full",
        "command": " ".join(["python", "benchmarks/gpu_check.py", *argv]),
    }  # fmt: skip
    if device.type == "cuda":
        import models

        props = torch.cuda.get_device_properties(device)
        meta.update({
            "name": torch.cuda.get_device_name(device),
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": props.total_memory / 2**30, "cudnn": torch.backends.cudnn.version(),
            "autocast_dtype": str(models.autocast_dtype(device)).replace("torch.", ""),
        })  # fmt: skip
    return meta


def cuda_test_files(root: Path, *, torchio: bool) -> list[str]:
    """Test files with a ``@pytest.mark.gpu`` test (or ``pytestmark``), with or without TorchIO.

    The GPU machine gets TorchIO only in the check's second call (its wheel set), so the
    files that import it run there; ``tests/benchmarks/test_gpu_check.py`` collects each
    part's files with every module outside the machine's packages and the part's set blocked.
    """
    files = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        text = path.read_text()
        if GPU_MARK.search(text) and bool(TORCHIO_IMPORT.search(text)) == torchio:
            files.append(str(path.relative_to(root)))
    return files


def run_cuda_tests(root: Path, seconds_left: float, *, torchio: bool) -> dict[str, Any]:
    """Run the GPU test files of one part (:func:`cuda_test_files`), ``-m gpu`` only."""
    files = cuda_test_files(root, torchio=torchio)
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *files]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True,
                          timeout=max(60.0, min(300.0, seconds_left / 3)))  # fmt: skip
    counts = {f"tests_{kind}": 0 for kind in ("passed", "failed", "skipped", "errors")}
    for number, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", done.stdout):
        counts[f"tests_{kind.rstrip('s')}s" if kind.startswith("error") else f"tests_{kind}"] \
            += int(number)
    if done.returncode != 0:
        logger.error("CUDA tests failed:\n%s", done.stdout[-4000:])
    return {"files": len(files), **counts, "returncode": done.returncode,
            "seconds": time.perf_counter() - started}


class Report:
    """Rows of every section and the helpers that read them back."""

    def __init__(self, meta: dict[str, Any], autosave: Path | None = None) -> None:
        self.data: dict[str, Any] = {"meta": meta, **{section: [] for section in SECTIONS}}
        self.autosave = autosave
        """Where the JSON is rewritten after every row, so that a call stopped at its time
        limit still brings back the rows measured before it."""

    def attempt(self, section: str, key: dict[str, Any], measure: Callable[[], dict]) -> None:
        """Run one measurement; a failure is recorded in its row and the run goes on.

        Catching every exception is deliberate here: a GPU slot is short and one row that
        runs out of memory or fails to compile must not cost the other rows' numbers.
        """
        logger.info("%s %s", section, key)
        self._drop(section, key)
        try:
            row = {**key, **measure()}
        except Exception as err:  # noqa: BLE001 -- recorded in the row; see the docstring
            logger.exception("%s %s failed", section, key)
            row = {**key, "error": f"{type(err).__name__}: {err}"[:500]}
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        self.data[section].append(row)
        self._save()

    def skip(self, section: str, key: dict[str, Any], reason: str) -> None:
        logger.info("%s %s skipped: %s", section, key, reason)
        self._drop(section, key)
        self.data[section].append({**key, "skipped": reason})
        self._save()

    def _save(self) -> None:
        if self.autosave is not None:
            self.write(self.autosave)

    def _drop(self, section: str, key: dict[str, Any]) -> None:
        """Forget a merged row with this key: the row measured now replaces it."""
        self.data[section] = [r for r in self.data[section]
                              if any(r.get(k) != v for k, v in key.items())]

    def merge(self, earlier: dict[str, Any], source: str) -> bool:
        """Take the rows of an earlier run's JSON, if it ran on this device in this mode.

        The check's two parts run as two device calls; the second merges the first's JSON
        so that the loader, compile and projection decisions and the targets see every row.
        A JSON from another device (a call that landed on another kind of GPU) or mode is
        not merged: mixing them would compare numbers that are not comparable.
        """
        meta, theirs = self.data["meta"], earlier.get("meta", {})
        same = all(theirs.get(k) == meta.get(k) for k in ("name", "mode", "device"))
        if not same:
            meta["merge_refused"] = (f"{source}: ran on {theirs.get('name')} "
                                     f"({theirs.get('device')}, {theirs.get('mode')})")
            logger.warning("not merging %s", meta["merge_refused"])
            return False
        for section in SECTIONS:
            self.data[section].extend(earlier.get(section, []))
        meta["merged"] = {"source": source, **{k: theirs.get(k) for k in (
            "date", "command", "parts", "torch", "cuda")}}
        return True

    def rows(self, section: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.data[section] if all(r.get(k) == v for k, v in match.items())]

    def annotate(self, section: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        for row in self.rows(section, **key):
            row.update(values)

    def value(self, section: str, key: dict[str, Any], field: str) -> float | None:
        found = [r[field] for r in self.rows(section, **key) if r.get(field) is not None]
        return found[-1] if found else None

    def step_seconds(self, network: str, modes: tuple[str, ...] = AUTOCAST_MODES) -> float | None:
        """The network's fastest measured step among ``modes``."""
        found = [r["seconds"] for r in self.data["train_step"]
                 if r["network"] == network and r["mode"] in modes and "seconds" in r]
        return min(found) if found else None

    def compile_helps(self, network: str) -> bool:
        """Whether compiling made the network's step at least 5 % faster."""
        compiled = self.step_seconds(network, (COMPILED,))
        plain = self.step_seconds(network, (CHANNELS_LAST,))
        return compiled is not None and plain is not None and compiled < 0.95 * plain

    def fewest_workers_keeping_up(self, network: str) -> int:
        """Fewest loader workers whose batch time fits in the network's step (else the fastest)."""
        step = self.step_seconds(network) or 0.0
        loaders = [r for r in self.data["loader"] if "seconds_per_batch" in r]
        for row in loaders:
            row["busy_fraction"] = min(1.0, step / row["seconds_per_batch"])
        keeping_up = [r["workers"] for r in loaders if r["busy_fraction"] >= BUSY_TARGET]
        if keeping_up:
            return min(keeping_up)
        return min(loaders, key=lambda r: r["seconds_per_batch"])["workers"] if loaders else 0

    def seconds_per_patch(self, contender: str) -> float:
        """The contender's last measured seconds per patch; 0 before its first row."""
        return self.value("inference", {"contender": contender}, "seconds_per_patch") or 0.0

    def failed(self) -> bool:
        """A row raised, or a CUDA test failed."""
        rows = [r for s in SECTIONS for r in self.data[s]]
        tests_failed = any(r.get("returncode", 0) != 0 for r in self.data["cuda_tests"])
        return tests_failed or any("error" in r for r in rows)

    def write(self, path: Path) -> None:
        """Write the JSON (non-finite numbers as null, their paths under ``non_finite``)."""
        bad: list[str] = []
        clean = _finite(self.data, "", bad)
        clean["non_finite"] = bad
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(clean, indent=2, allow_nan=False) + "\n")

    def table(self) -> str:
        """One table: a line per row of every section, then the projection and targets."""
        from gpu_check_table import format_table

        return format_table(self.data)


def _finite(value: Any, where: str, bad: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v, f"{where}.{k}", bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v, f"{where}[{i}]", bad) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        bad.append(where.lstrip("."))
        return None
    return value


def _target(name: str, value: float | None, limit: float, at_most: bool, applies: bool,
            note: str) -> dict[str, Any]:
    met = None
    if value is not None and applies:
        met = value <= limit if at_most else value >= limit
    return {"target": name, "value": value, "limit": limit,
            "direction": "<=" if at_most else ">=", "met": met, "note": note}


def evaluate_targets(report: Report, device: torch.device) -> list[dict[str, Any]]:
    """Issue 15's targets from the rows; ``met`` is None where a target does not apply."""
    small = report.data["meta"]["mode"] == "small"
    h100 = device.type == "cuda" and torch.cuda.get_device_capability(device) >= (9, 0)
    why = "small mode: not a measurement" if small else ""
    targets = []
    final, anchor = report.step_seconds(FINAL), report.step_seconds(ANCHOR)
    ratio = final / anchor if final and anchor else None
    targets.append(_target("train step: final / BasicUNet, best autocast mode", ratio, 1.0,
                           True, not small, why))
    for row in report.rows("inference", contender="ours"):
        if "seconds" not in row:
            continue
        anchors = [r["seconds"] for r in report.rows("inference", overlap=row["overlap"])
                   if r["contender"] != "ours" and "seconds" in r]
        speedup = min(anchors) / row["seconds"] if anchors else None
        targets.append(_target(f"inference {row['overlap']:.0%}: faster anchor / ours", speedup,
                               1.5, False, not small, why))
        fractions = [r.get("mask_fraction_differing_in_brain") for r in
                     report.rows("inference", overlap=row["overlap"]) if r["contender"] != "ours"]
        worst = max((f for f in fractions if f is not None), default=None)
        targets.append(_target(f"inference {row['overlap']:.0%}: mask differing in brain",
                               worst, 1e-4, True, not small,
                               why or "fraction of brain voxels; same network, batch, autocast"))
    per_patient = report.value("inference", {"overlap": 0.25, "contender": "ours"}, "seconds")
    targets.append(_target("seconds per full-size patient at 25 %", per_patient, 2.0, True,
                           h100 and not small, why or ("" if h100 else "H100-class GPUs only")))
    rate = report.value("training", {"variant": "final"}, "iterations_per_s")
    compiled = report.value("training", {"variant": "final"}, "compile")
    step = report.step_seconds(FINAL, (COMPILED,) if compiled else (CHANNELS_LAST,))
    busy = min(1.0, step * rate) if step and rate else None
    targets.append(_target("GPU busy in real training (step time x it/s)", busy, BUSY_TARGET,
                           False, not small, why))
    hours = report.data.get("projection", {}).get("hours_eight_gpus")
    targets.append(_target("Table 1 on eight GPUs, hours", hours, 2.0, True, h100 and not small,
                           why or ("" if h100 else "H100-class GPUs only")))
    return targets

"""The GPU path, measured in one command: tests, step times, loader, tiled inference, a real run.

GPU time comes in short slots, so this script needs no exploration: on one CUDA GPU it
runs, within ``--budget-s`` seconds (default 420, under the 8 minutes of issue 15),

1. the CUDA tests (every test file with a ``pytest.mark.gpu`` test);
2. one training step at 128^3, batch 2, width 16, of each Table 1 network and MONAI's
   ``BasicUNet`` at the same widths, in float32, autocast (bf16 where native, else fp16
   with a ``GradScaler``), + channels-last, + channels-last instance norms (no layout
   round trip) or + ``torch.compile`` (the compile rows of the two middle networks only
   with ``--compile-all``), with peak GPU memory;
3. the patch loader's supply with 0, 2 and 4 workers against the final network's step;
4. tiled inference of one full-size 405 x 512 x 512 patient at 25/50/75 % overlap, ours
   against MONAI ``sliding_window_inference`` and TorchIO's grid sampler on the GPU,
   same network, batch and autocast, masks compared inside the brain;
5. 300 iterations of real training of the final variant (``platform.trial.training.train``
   with the platform's loader), iterations per second and how busy that keeps the GPU;
6. from these, the projected wall time of the paper's Table 1 (6 variants x 5 folds x
   40,000 iterations, 81 patients) on one and on eight such GPUs.

The GPU machine lent to this project has no TorchIO, SimpleITK or MONAI and reaches no
package registry, so the sections are split in two parts, each a device call with its own
wheel set (``benchmarks/gpu_wheels.py``; the calls are in ``docs/performance.md``):
``--part core`` (the CUDA tests that need no TorchIO, sections 2, and 4 against MONAI) and
``--part torchio`` (the CUDA tests that need TorchIO, 3, 5, and 4 against TorchIO; its
``--merge`` takes the core part's JSON so that 5 and 6 use its step rows). Each part imports
only what its sections need, never Ray or MLflow. Without ``--part`` both run in one process.

It prints one table and writes everything to JSON (``--out``). A row that fails
(out of memory, a compiler error) is recorded with its error and the others still run, so
one slot always gives numbers; the exit code is then 1, as it is when a CUDA test fails.
The JSON is rewritten after every row, so a call stopped at its time limit keeps its rows.
Optional rows that would overrun the budget are skipped with that reason.

``--small`` runs every section at toy sizes, on CPU when there is no GPU, in well under a
minute (``tests/benchmarks/test_gpu_check.py`` runs it, so the script cannot rot): there
autocast is CPU bf16 and ``torch.compile`` uses the ``eager`` backend, which only proves
the code paths. Small-mode numbers are not measurements of anything.

Usage::

    python benchmarks/gpu_check.py                      # on a GPU machine, ~7 minutes
    python benchmarks/gpu_check.py --part core --out core.json            # first call
    python benchmarks/gpu_check.py --part torchio --merge core.json       # second call
    python benchmarks/gpu_check.py --small --out /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stroke_cli import import_project_platform  # noqa: E402 -- needs the repository on sys.path

import_project_platform()

import numpy as np  # noqa: E402 -- after the project's platform package is importable
import torch  # noqa: E402
from gpu_check_report import (  # noqa: E402 -- beside this script
    CHANNELS_LAST,
    Report,
    describe_device,
    evaluate_targets,
    run_cuda_tests,
)
from gpu_check_train import (  # noqa: E402
    ANCHOR,
    FINAL,
    MODES,
    NETWORKS,
    loader_supply,
    real_training,
    time_train_step,
)

logger = logging.getLogger("gpu_check")

TABLE1_TRIALS = 30  # 6 variants x 5 folds
TABLE1_ITERATIONS = 40_000
PAPER_PATIENTS, PAPER_FOLDS = 81, 5
COMPILE_ESTIMATE_S = 90.0  # a compile row on a GPU: compile (tens of seconds) plus steps
PARTS = ("core", "torchio")
CONTENDERS = {"core": ("ours", "monai"), "torchio": ("ours", "torchio")}
"""Tiled-inference contenders of each part ("ours" in both: each anchor's mask is compared
with ours from the same process)."""


@dataclass(frozen=True)
class Settings:
    """Sizes of one run of the check."""

    patch: int
    width: int
    warmup: int
    steps: int
    case_shape: tuple[int, int, int]
    cases: int
    workers: tuple[int, ...]
    loader_batches: int
    infer_batch: int
    overlaps: tuple[float, ...]
    train_iterations: int
    log_every: int
    compile_backend: str
    batch: int = 2


FULL = Settings(patch=128, width=16, warmup=3, steps=10, case_shape=(405, 512, 512), cases=4,
                workers=(0, 2, 4), loader_batches=64, infer_batch=4, overlaps=(0.25, 0.5, 0.75),
                train_iterations=300, log_every=50, compile_backend="inductor")
SMALL = Settings(patch=32, width=2, warmup=1, steps=1, case_shape=(48, 64, 64), cases=2,
                 workers=(0, 1), loader_batches=4, infer_batch=2, overlaps=(0.25, 0.5),
                 train_iterations=4, log_every=2, compile_backend="eager")


class Budget:
    """Seconds left of the run's budget; optional rows ask before they start."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def allows(self, estimate_s: float) -> bool:
        return self.left() > estimate_s


def make_case(settings: Settings, seed: int) -> Any:
    """One synthetic head preprocessed with the paper's final steps."""
    from data_pipeline.preprocess import PAPER_STEPS, preprocess
    from data_pipeline.synthetic.phantom import make_head_phantom

    shape = settings.case_shape
    spacing = (0.5 * 405 / shape[0], 0.45 * 512 / shape[1], 0.45 * 512 / shape[2])
    phantom = make_head_phantom(shape, spacing, np.random.default_rng(seed))
    return preprocess(phantom.hu, phantom.lesion, PAPER_STEPS)


def make_cases(settings: Settings, count: int) -> list[Any]:
    """The loader's training set; full-size cases are made in parallel processes.

    A full-size case takes 10-20 s of one core (numpy, single-threaded), so the torchio
    part's four would cost a minute of GPU time in a row; forked workers touch no CUDA.
    """
    if count == 1 or settings.compile_backend == "eager":  # small mode: serial, shared CPUs
        return [make_case(settings, seed) for seed in range(count)]
    workers = min(count, os.cpu_count() or 1)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(make_case, [settings] * count, range(count)))


def section_cuda_tests(report: Report, parts: tuple[str, ...], budget: Budget,
                       skip: bool) -> None:
    """The ``pytest.mark.gpu`` tests of each part: files that import TorchIO run in its part."""
    for part in parts:
        key = {"suite": "gpu", "part": part}
        if skip:
            report.skip("cuda_tests", key, "--skip-tests")
        else:
            report.attempt("cuda_tests", key, lambda p=part: run_cuda_tests(
                ROOT, budget.left(), torchio=p == "torchio"))


def section_final_step(report: Report, settings: Settings, device: torch.device) -> None:
    """The final network's ``autocast+channels_last`` step, the loader's yardstick, where no
    core rows were merged (the torchio part run alone)."""
    if report.step_seconds(FINAL, (CHANNELS_LAST,)) is not None:
        return
    report.attempt("train_step", {"network": FINAL, "mode": CHANNELS_LAST},
                   lambda: time_train_step(
                       FINAL, CHANNELS_LAST, device=device, patch=settings.patch,
                       batch=settings.batch, width=settings.width, warmup=settings.warmup,
                       steps=settings.steps, compile_backend=settings.compile_backend))


def section_train_steps(report: Report, settings: Settings, device: torch.device,
                        budget: Budget, compile_all: bool) -> None:
    """Step rows: every network x mode; compile rows last, the anchor's and final's first."""
    plain = [(n, m) for n in NETWORKS for m in MODES if "compile" not in m]
    compiled = [(n, MODES[-1]) for n in (FINAL, ANCHOR)]
    rest = [(n, MODES[-1]) for n in NETWORKS if n not in (FINAL, ANCHOR)]
    small = settings.compile_backend == "eager"
    for index, (name, mode) in enumerate(plain + compiled + rest):
        key = {"network": name, "mode": mode}
        if index >= len(plain) + len(compiled) and not compile_all:
            report.skip("train_step", key, "compile rows of the middle networks: --compile-all")
        elif "compile" in mode and not small and not budget.allows(COMPILE_ESTIMATE_S):
            report.skip("train_step", key, f"time budget ({budget.left():.0f} s left)")
        else:
            report.attempt("train_step", key, lambda n=name, m=mode: time_train_step(
                n, m, device=device, patch=settings.patch, batch=settings.batch,
                width=settings.width, warmup=settings.warmup, steps=settings.steps,
                compile_backend=settings.compile_backend))


def section_loader(report: Report, settings: Settings, cases: list[Any]) -> None:
    for workers in settings.workers:
        report.attempt("loader", {"workers": workers}, lambda w=workers: loader_supply(
            cases, patch=settings.patch, batch=settings.batch, workers=w,
            batches=settings.loader_batches))


def section_inference(report: Report, settings: Settings, device: torch.device,
                      budget: Budget, case: Any, overlaps: tuple[float, ...],
                      contenders: tuple[str, ...]) -> None:
    """Ours and the anchors per overlap; a row is skipped when its estimate overruns."""
    import gpu_check_infer as infer

    import models
    from platform.inference.tiles import count_patches

    image, brain = infer.full_size_patient(case)
    torch.manual_seed(0)
    network = models.build_model(FINAL, base_width=settings.width).eval()
    dtype = models.autocast_dtype(device)
    patch = (settings.patch,) * 3
    outputs: dict[tuple[float, str], np.ndarray] = {}
    for overlap in overlaps:
        opts = {"patch": settings.patch, "overlap": overlap, "batch": settings.infer_batch,
                "device": device, "dtype": dtype}
        for name in contenders:
            patches = count_patches(image.shape, patch, overlap, brain if name == "ours" else None)
            key = {"overlap": overlap, "contender": name, "patches": patches}
            estimate = report.seconds_per_patch(name) * patches
            if not budget.allows(estimate):
                report.skip("inference", key, f"estimated {estimate:.0f} s, "
                            f"{budget.left():.0f} s left in the budget")
                continue

            def run(n: str = name, o: dict[str, Any] = opts, k: dict[str, Any] = key) -> dict:
                seconds, prob = infer.run_contender(n, network, image, brain, o)
                outputs[(k["overlap"], n)] = prob
                return {"seconds": seconds, "seconds_per_patch": seconds / max(k["patches"], 1)}

            report.attempt("inference", key, run)
        ours = outputs.pop((overlap, "ours"), None)
        for name in contenders[1:]:
            other = outputs.pop((overlap, name), None)
            if ours is not None and other is not None:
                report.annotate("inference", {"overlap": overlap, "contender": name},
                                infer.compare_masks(ours, other, brain))


def section_training(report: Report, settings: Settings, device: torch.device,
                     cases: list[Any]) -> None:
    """300 real iterations, compiled if compiling made the final network's step faster."""
    compile_model = report.compile_helps(FINAL) and settings.compile_backend != "eager"
    workers = report.fewest_workers_keeping_up(FINAL)
    report.attempt("training", {"variant": "final"}, lambda: real_training(
        cases, device=device, patch=settings.patch, batch=settings.batch, width=settings.width,
        iterations=settings.train_iterations, log_every=settings.log_every, workers=workers,
        compile_model=compile_model))


def projection(report: Report) -> dict[str, Any]:
    """Table 1's wall time from the real run's speed and the seconds per patient at 25 %."""
    rate = report.value("training", {"variant": "final"}, "iterations_per_s")
    per_patient = report.value("inference", {"overlap": 0.25, "contender": "ours"}, "seconds")
    if rate is None or per_patient is None:
        return {"skipped": "needs the real training and the 25 % inference rows"}
    patients = math.ceil(PAPER_PATIENTS / PAPER_FOLDS)
    trial = TABLE1_ITERATIONS / rate + patients * per_patient
    waves = math.ceil(TABLE1_TRIALS / 8)
    return {
        "trials": TABLE1_TRIALS, "iterations": TABLE1_ITERATIONS, "test_patients": patients,
        "seconds_per_trial": trial, "hours_one_gpu": TABLE1_TRIALS * trial / 3600,
        "hours_eight_gpus": waves * trial / 3600,
        "assumes": "every variant as fast as the final one (it is the largest network); one "
                   "trial per GPU; inference on the full grid; start-up and checkpoints not "
                   "counted",
    }  # fmt: skip


def merge_earlier(report: Report, path: Path | None) -> None:
    """Rows of an earlier part's JSON (same device and mode), before this run's own."""
    if path is None:
        return
    if not path.exists():
        report.data["meta"]["merge_refused"] = f"{path}: no such file"
        logger.warning("--merge %s: no such file; this part runs alone", path)
        return
    report.merge(json.loads(path.read_text()), str(path))


def run(args: argparse.Namespace) -> Report:
    """The parts' sections in order of importance; the budget guards the optional rows."""
    settings = SMALL if args.small else FULL
    parts = PARTS if args.part == "all" else (args.part,)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as platform.trial.training.train sets it on CUDA
    elif args.small:
        torch.set_num_threads(1)  # toy sizes gain nothing from threads; a shared machine loses
    budget = Budget(args.budget_s)
    report = Report(describe_device(device, small=args.small, argv=sys.argv[1:]), args.out)
    report.data["meta"]["parts"] = list(parts)
    merge_earlier(report, args.merge)
    section_cuda_tests(report, parts, budget, args.skip_tests)
    count = settings.cases if "torchio" in parts else 1  # only the loader needs several
    logger.info("making %d synthetic cases %s", count, settings.case_shape)
    cases = make_cases(settings, count)
    contenders = tuple(dict.fromkeys(c for part in parts for c in CONTENDERS[part]))
    if "core" in parts:
        section_train_steps(report, settings, device, budget, args.compile_all)
    else:
        section_final_step(report, settings, device)
    if "torchio" in parts:
        section_loader(report, settings, cases)
    section_inference(report, settings, device, budget, cases[0], settings.overlaps[:1],
                      contenders)
    if "torchio" in parts:
        section_training(report, settings, device, cases)
    section_inference(report, settings, device, budget, cases[0], settings.overlaps[1:],
                      contenders)
    report.data["projection"] = projection(report)
    report.data["targets"] = evaluate_targets(report, device)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="toy sizes; runs on CPU too")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_check.json")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="seconds for the whole run; optional rows that would overrun skip")
    parser.add_argument("--compile-all", action="store_true",
                        help="also compile the two middle Table 1 networks")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the CUDA tests")
    parser.add_argument("--part", choices=("all", *PARTS), default="all",
                        help="core: no TorchIO/SimpleITK (CUDA tests without TorchIO, step "
                             "rows, inference vs MONAI); torchio: CUDA tests with TorchIO, "
                             "loader, real training, inference vs TorchIO; all: both")
    parser.add_argument("--merge", type=Path,
                        help="JSON of an earlier part on the same device: its rows join this "
                             "report (this run's rows replace any with the same key)")
    args = parser.parse_args(argv)
    if not args.small and not args.device.startswith("cuda"):
        parser.error("the full check needs a CUDA GPU; on CPU run it with --small")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    report = run(args)
    print(report.table())
    report.write(args.out)
    print(f"JSON written to {args.out}")
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

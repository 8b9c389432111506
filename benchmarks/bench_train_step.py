"""Benchmark one training step of each Table 1 network against MONAI's BasicUNet.

One step = forward + backward + Adam update on a batch of 2 patches, with the paper's
BCE + soft Dice loss. Contenders (all instance norm, trilinear up-sampling):
``unet3d`` (plain), ``unet3d_residual``, ``unet3d_residual_se`` (the paper's final model)
and the anchor, MONAI ``BasicUNet`` with the same widths (``features=(w, 2w, 4w, 8w, 16w,
w)``, ``upsample="nontrainable"``: a 1x1x1 convolution then trilinear interpolation, as
ours). On CUDA the script also runs ``unet3d_residual_se`` under autocast with
``channels_last_3d`` and prints its speed-up over float32.

Each contender runs in its own subprocess so that its peak RSS is its own, in
``--rounds`` rounds with the order rotated each round; the time printed is the median
over rounds of each run's median step time, which damps the load of other processes
on a shared machine. On CPU the ratios use the process's CPU time with one thread
(``--threads 1``, the default): wall time on a machine shared with other jobs mostly
measures the others. Printed per contender: median step wall and CPU time, peak RSS
(CPU) or peak allocated memory (CUDA), memory of the step itself (peak minus the
memory after building the model), and their ratios to BasicUNet.

Usage::

    .venv/bin/python benchmarks/bench_train_step.py            # 64^3 patches, width 16
    .venv/bin/python benchmarks/bench_train_step.py --small    # 32^3, quick check
    .venv/bin/python benchmarks/bench_train_step.py --patch 128 --steps 2
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402 -- after the repository is on sys.path
from peak_memory import peak_rss_mib  # noqa: E402 -- beside this script
from torch import nn  # noqa: E402

logger = logging.getLogger("bench_train_step")

ANCHOR = "basicunet"
TABLE1 = ["unet3d", "unet3d_residual", "unet3d_residual_se"]
AMP_CONTENDER = "unet3d_residual_se+amp+channels_last"
TIME_TARGET = ("unet3d_residual_se", 1.25)


def _build(name: str, width: int) -> nn.Module:
    if name == ANCHOR:
        from monai.networks.nets import BasicUNet

        features = (width, 2 * width, 4 * width, 8 * width, 16 * width, width)
        return BasicUNet(3, 1, 1, features=features, upsample="nontrainable")
    import models

    return models.build_model(name.split("+")[0], base_width=width)


def _memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mib()


def _worker(args: argparse.Namespace) -> dict[str, Any]:
    """Time the training steps of one contender in this process."""
    import models

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    amp = args.worker.endswith("+amp+channels_last")
    net = _build(args.worker, args.width).to(device)
    shape = (args.batch, 1, args.patch, args.patch, args.patch)
    images = torch.randn(shape, device=device)
    target = (torch.rand(shape, device=device) > 0.97).float()
    if amp:
        net = net.to(memory_format=torch.channels_last_3d)
        images = images.contiguous(memory_format=torch.channels_last_3d)
    dtype = models.autocast_dtype(device) if amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    loss_fn = models.build_loss("bce_dice")
    optimizer = models.build_optimizer("adam", net.parameters())
    built = _memory_mib(device)
    times, cpu_times = [], []
    for step in range(args.warmup + args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(net(images), target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = _memory_mib(device)
    return {
        "name": args.worker,
        "params": sum(p.numel() for p in net.parameters()),
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu_times),
        "peak_mib": peak,
        "step_mib": peak - built,
        "loss": loss.item(),
    }


def _run_contender(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
    for flag in ("patch", "batch", "width", "steps", "warmup", "threads", "device"):
        command += [f"--{flag}", str(getattr(args, flag))]
    logger.info("running %s", name)
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"contender {name} failed:\n{done.stderr[-3000:]}")
    line = next(s for s in reversed(done.stdout.splitlines()) if s.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


def _timing_key(args: argparse.Namespace) -> str:
    """CPU time on CPU (robust to other processes on a shared machine), wall time on CUDA."""
    return "seconds" if args.device.startswith("cuda") else "cpu_seconds"


def _report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    anchor = next(r for r in results if r["name"] == ANCHOR)
    key = _timing_key(args)
    memory = "peak alloc" if args.device.startswith("cuda") else "peak RSS"
    print(
        f"\nOne training step (fwd+bwd+Adam), batch {args.batch}, patch {args.patch}^3, "
        f"width {args.width}, device {args.device}, threads {args.threads or 'default'}, "
        f"median of {args.rounds} runs x {args.steps} steps after {args.warmup} warm-up"
    )
    print(
        f"{'contender':38s} {'params':>10s} {'wall s':>7s} {'cpu s':>7s} {'x time':>6s} "
        f"{memory + ' MiB':>15s} {'x mem':>6s} {'step MiB':>9s} {'x step':>6s}"
    )
    for r in results:
        print(
            f"{r['name']:38s} {r['params']:>10,d} {r['seconds']:>7.2f} {r['cpu_seconds']:>7.2f} "
            f"{r[key] / anchor[key]:>6.2f} {r['peak_mib']:>15.0f} "
            f"{r['peak_mib'] / anchor['peak_mib']:>6.2f} {r['step_mib']:>9.0f} "
            f"{r['step_mib'] / anchor['step_mib']:>6.2f}"
        )
    print(f"x time: ratio of {'wall' if key == 'seconds' else 'CPU'} time to BasicUNet")
    by_name = {r["name"]: r for r in results}
    name, limit = TIME_TARGET
    ratio = by_name[name][key] / anchor[key]
    verdict = "met" if ratio <= limit else "NOT met"
    print(f"target: {name} <= {limit}x BasicUNet time: {ratio:.2f}x ({verdict})")
    if AMP_CONTENDER in by_name:
        speedup = by_name[name]["seconds"] / by_name[AMP_CONTENDER]["seconds"]
        print(f"AMP + channels_last_3d speed-up of {name}: {speedup:.2f}x")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=64, help="cubic patch edge, voxels")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--width", type=int, default=16, help="base width (level-0 channels)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="32^3 patches, 2 steps")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.small:
        args.patch, args.steps, args.rounds = 32, 2, 1
    return args


def _rounds(names: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every contender ``args.rounds`` times, rotating the order; keep the median run."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_run_contender(name, args))
    results = []
    for name in names:
        ordered = sorted(runs[name], key=lambda r: r[_timing_key(args)])
        median = dict(ordered[len(ordered) // 2])
        median["peak_mib"] = statistics.median(r["peak_mib"] for r in ordered)
        median["step_mib"] = statistics.median(r["step_mib"] for r in ordered)
        results.append(median)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run every contender in its own subprocess and print the comparison."""
    args = _parse(argv)
    if args.worker:
        print("RESULT " + json.dumps(_worker(args)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = [ANCHOR, *TABLE1]
    if args.device.startswith("cuda"):
        names.append(AMP_CONTENDER)
    _report(_rounds(names, args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

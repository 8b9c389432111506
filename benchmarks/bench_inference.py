"""Benchmark tiled inference of one cropped brain volume against MONAI and TorchIO.

Contenders, all with the same network (MONAI ``BasicUNet``, features
``(16, 16, 32, 64, 128, 16)``, seed 0), patch size and overlap, and the same sigmoid
probabilities averaged where patches overlap:

- ``ours``: :func:`platform.inference.sliding_window.predict_volume` with the brain mask
  (patches without
  brain are skipped), ``torch.inference_mode`` and ``--batch-size`` patches per forward;
- ``monai``: ``monai.inferers.sliding_window_inference`` (constant blending) under
  ``torch.no_grad``, ``sw_batch_size=--anchor-batch-size``;
- ``torchio``: ``GridSampler`` + ``SubjectsLoader`` + ``GridAggregator(overlap_mode="average")``
  under ``torch.no_grad``, loader batch ``--anchor-batch-size``.

The volume is a synthetic cropped brain box: a super-ellipsoid brain filling about 60 % of
the box (like the bounding box of a real brain), smooth intensities with darker blobs
inside, 0 outside. Each contender runs in its own subprocess so that its peak RSS is its
own, for ``--rounds`` rounds with the order rotated each round; the wall and CPU seconds
printed are medians over rounds. CPU seconds (all threads) are less disturbed than wall
seconds by other processes on a shared machine. The largest absolute difference of each
output from ours is taken inside the brain, where the skipped patches cannot matter.

Measured figures, with dates and machine load, are in ``docs/performance.md``: on the
shared 2-core machine (2026-11-29) ``--full`` went from 1.36x (wall) / 1.35x (CPU) the
faster anchor to 3.26x / 2.41x with freed activations reused from the heap and a two-pass
channels-last instance norm (max |difference| in brain 1.2e-6 throughout).

Usage::

    .venv/bin/python benchmarks/bench_inference.py            # 96x128x112, 64^3 patches
    .venv/bin/python benchmarks/bench_inference.py --full     # 176x224x192, 96^3 (issue 7)
    .venv/bin/python benchmarks/bench_inference.py --small    # 48x64x56, 32^3, quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stroke_cli import import_project_platform  # noqa: E402 -- needs the repository on sys.path

import_project_platform()

import numpy as np  # noqa: E402 -- after the project's platform package is importable
import torch  # noqa: E402
from peak_memory import peak_rss_mib  # noqa: E402 -- beside this script
from scipy import ndimage  # noqa: E402

CONTENDERS = ("ours", "monai", "torchio")
ANCHORS = ("monai", "torchio")
TARGET_SPEEDUP = 1.5
SETTINGS = {
    "small": ((48, 64, 56), 32),
    "default": ((96, 128, 112), 64),
    "full": ((176, 224, 192), 96),
}
FEATURES = (16, 16, 32, 64, 128, 16)
BRAIN_EXPONENT = 2.4  # |z|^p + |y|^p + |x|^p <= 1 fills about 60 % of its box for p = 2.4


def make_case(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return a synthetic cropped brain: image float32 in [0, 1] and brain mask uint8."""
    rng = np.random.default_rng(seed)
    axes = [np.abs(np.linspace(-1, 1, n, dtype=np.float32)) ** BRAIN_EXPONENT for n in shape]
    brain = (axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]) <= 1
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 3)
    texture /= np.abs(texture).max()
    lesions = ndimage.gaussian_filter((rng.random(shape) > 0.9995).astype(np.float32), 4)
    image = 0.5 + 0.2 * texture - 0.3 * np.clip(lesions / max(lesions.max(), 1e-6), 0, 1)
    image = np.where(brain, np.clip(image, 0, 1), 0).astype(np.float32)
    return image, brain.astype(np.uint8)


def build_model() -> torch.nn.Module:
    """The shared network: MONAI BasicUNet width 16, seed 0, eval mode."""
    from monai.networks.nets import BasicUNet

    torch.manual_seed(0)
    return BasicUNet(spatial_dims=3, in_channels=1, out_channels=1, features=FEATURES).eval()


def run_ours(model: torch.nn.Module, image: np.ndarray, brain: np.ndarray, args: Any) -> np.ndarray:
    from platform.inference.sliding_window import Tiling, predict_volume

    patch = (args.patch,) * 3
    return predict_volume(model, image,
                          Tiling(patch_size=patch, overlap=args.overlap,
                                 batch_size=args.batch_size),
                          brain=brain)


def run_monai(
    model: torch.nn.Module, image: np.ndarray, brain: np.ndarray, args: Any
) -> np.ndarray:
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        prob = sliding_window_inference(
            torch.from_numpy(image)[None, None],
            roi_size=(args.patch,) * 3,
            sw_batch_size=args.anchor_batch_size,
            predictor=lambda x: torch.sigmoid(model(x)),
            overlap=args.overlap,
            mode="constant",
        )
    return prob[0, 0].numpy()


def run_torchio(
    model: torch.nn.Module, image: np.ndarray, brain: np.ndarray, args: Any
) -> np.ndarray:
    import torchio as tio

    from platform.inference.tiles import patch_overlap_voxels

    patch = (args.patch,) * 3
    subject = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(image)[None]))
    sampler = tio.GridSampler(subject, patch, patch_overlap_voxels(patch, args.overlap))
    aggregator = tio.GridAggregator(sampler, overlap_mode="average")
    with torch.no_grad():
        for batch in tio.SubjectsLoader(sampler, batch_size=args.anchor_batch_size):
            logits = model(batch["image"][tio.DATA])
            aggregator.add_batch(torch.sigmoid(logits), batch[tio.LOCATION])
    return aggregator.get_output_tensor()[0].numpy()


RUNNERS = {"ours": run_ours, "monai": run_monai, "torchio": run_torchio}


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def worker(args: argparse.Namespace) -> None:
    """Run one contender in this process; write its timing and output under --workdir."""
    torch.set_num_threads(args.threads)
    image, brain = make_case(args.shape)
    model = build_model()
    before = _rss_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    prob = RUNNERS[args.worker](model, image, brain, args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_rss_mib()
    workdir = Path(args.workdir)
    np.save(workdir / f"{args.worker}.npy", prob.astype(np.float32))
    result = {"wall_s": wall, "cpu_s": cpu, "peak_mib": peak, "before_mib": before}
    (workdir / f"{args.worker}.json").write_text(json.dumps(result))


def _spawn(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--worker", name, "--workdir", str(workdir),
        "--shape", *map(str, args.shape), "--patch", str(args.patch),
        "--overlap", str(args.overlap), "--batch-size", str(args.batch_size),
        "--anchor-batch-size", str(args.anchor_batch_size), "--threads", str(args.threads),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((workdir / f"{name}.json").read_text())


def compare(args: argparse.Namespace) -> None:
    """Run every contender in rounds and print times, ratios, memory and differences."""
    from platform.inference.tiles import count_patches

    image, brain = make_case(args.shape)
    patch = (args.patch,) * 3
    print(
        f"volume {args.shape}, patch {args.patch}^3, overlap {args.overlap:.0%}, "
        f"{args.threads} threads; brain fills {brain.mean():.0%} of the box; patches run by "
        f"ours {count_patches(args.shape, patch, args.overlap, brain)} of "
        f"{count_patches(args.shape, patch, args.overlap)}; batch ours {args.batch_size}, "
        f"anchors {args.anchor_batch_size}"
    )
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    diffs: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            order = CONTENDERS[round_index % 3 :] + CONTENDERS[: round_index % 3]
            for name in order:
                runs[name].append(_spawn(name, args, Path(tmp)))
                print(
                    f"  round {round_index + 1} {name}: {runs[name][-1]['wall_s']:.1f} s",
                    flush=True,
                )
        ours = np.load(Path(tmp) / "ours.npy")
        inside = brain.astype(bool)
        for name in ANCHORS:
            diffs[name] = float(np.abs(np.load(Path(tmp) / f"{name}.npy") - ours)[inside].max())
    _print_table(runs, diffs)


def _print_table(runs: dict[str, list[dict[str, float]]], diffs: dict[str, float]) -> None:
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    print(f"{'contender':<10}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}{'+MiB':>8}"
          f"{'wall x':>8}{'cpu x':>8}{'mem x':>7}{'max |d| in brain':>18}")  # fmt: skip
    for name, m in med.items():
        o = med["ours"]
        print(
            f"{name:<10}{m['wall_s']:>9.1f}{m['cpu_s']:>9.1f}{m['peak_mib']:>10.0f}"
            f"{m['peak_mib'] - m['before_mib']:>8.0f}{m['wall_s'] / o['wall_s']:>8.2f}"
            f"{m['cpu_s'] / o['cpu_s']:>8.2f}{m['peak_mib'] / o['peak_mib']:>7.2f}"
            f"{diffs.get(name, 0.0):>18.2e}"
        )
    fastest = min(ANCHORS, key=lambda n: med[n]["wall_s"])
    speedup = med[fastest]["wall_s"] / med["ours"]["wall_s"]
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
    worst = max(diffs.values())
    print(
        f"ours vs the faster anchor ({fastest}): {speedup:.2f}x wall, "
        f"{med[fastest]['cpu_s'] / med['ours']['cpu_s']:.2f}x cpu ({verdict} the "
        f"{TARGET_SPEEDUP}x target); max |difference| in brain {worst:.1e} "
        f"({'within' if worst <= 1e-5 else 'OVER'} 1e-5)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="176x224x192 volume, 96^3 patches")
    size.add_argument("--small", action="store_true", help="48x64x56 volume, 32^3 patches")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=2, help="patches per forward, ours")
    parser.add_argument("--anchor-batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--patch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    name = "full" if args.full else "small" if args.small else "default"
    shape, patch = SETTINGS[name]
    args.shape = tuple(args.shape or shape)
    args.patch = args.patch or patch
    if not 0.0 <= args.overlap < 1.0 or args.rounds < 1:
        parser.error("--overlap must be in [0, 1) and --rounds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
    else:
        compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: training-patch throughput of ``make_patch_loader`` vs TorchIO's defaults.

Usage::

    .venv/bin/python benchmarks/bench_sampling.py            # 4 cases 405x512x512, 128^3 patches
    .venv/bin/python benchmarks/bench_sampling.py --small    # 4 cases 160x256x256, 64^3 patches

Cases are synthetic heads preprocessed with the paper's final steps (``PAPER_STEPS``).
Both contenders draw with the paper's weighted sampler (TorchIO ``LabelSampler``,
``{0: 0, 1: 0.5, 2: 0.5}``), 32 patches per patient, batch 2, each in its own
subprocess (so peak RSS is its own):

- ``torchio``: ``tio.Queue`` and ``tio.SubjectsLoader`` with TorchIO's defaults
  (subjects loaded in the main process, ``start_background=True``);
- ``platform``: ``data_pipeline.samplers.make_patch_loader`` (its own seeded random
  stream, full batches across epochs).

The printed demand is what a training step consumes: ``batch / step seconds``, with the
step time measured on the 2-core reference machine (BasicUNet width 16, 128^3, batch 2:
19 s) unless ``--step-seconds`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mib  # noqa: E402 -- beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FULL = ((405, 512, 512), 128)
SMALL = ((160, 256, 256), 64)
CONTENDERS = ("torchio", "platform")
BATCH, PER_PATIENT = 2, 32


def _load_cases(data: Path) -> list:
    from data_pipeline.preprocess import PreprocessedCase

    cases = []
    for path in sorted(data.glob("case-*.npz")):
        with np.load(path) as arrays:
            cases.append(PreprocessedCase(arrays["image"], arrays["lesion"], arrays["brain"],
                                          ((0, 0), (0, 0), (0, 0)), arrays["image"].shape))
    return cases


def _torchio_batches(cases: list, patch: int, queue_length: int):
    import torch
    import torchio as tio

    from data_pipeline.samplers import sampling_map

    subjects = [tio.Subject(
        image=tio.ScalarImage(tensor=torch.from_numpy(c.image[None])),
        lesion=tio.LabelMap(tensor=torch.from_numpy(c.lesion[None])),
        sampling=tio.LabelMap(tensor=torch.from_numpy(sampling_map(c)[None])),
    ) for c in cases]
    sampler = tio.LabelSampler(patch, "sampling", {0: 0.0, 1: 0.5, 2: 0.5})
    queue = tio.Queue(tio.SubjectsDataset(subjects), queue_length, PER_PATIENT, sampler)
    while True:
        yield from tio.SubjectsLoader(queue, batch_size=BATCH)


def worker(name: str, data: Path, patch: int, batches: int, queue_length: int) -> None:
    """Time ``batches`` batches after one warm-up batch; write patches/s and peak RSS."""
    import torch

    from data_pipeline.samplers import SAMPLERS, make_patch_loader

    torch.set_num_threads(1)
    cases = _load_cases(data)
    if name == "torchio":
        stream = _torchio_batches(cases, patch, queue_length)
    else:
        sampler = SAMPLERS.spec("label", {"patch_size": (patch,) * 3,
                                          "patches_per_patient": PER_PATIENT,
                                          "queue_length": queue_length})
        stream = make_patch_loader(cases, sampler, batch_size=BATCH, seed=0)
    next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    (data / f"{name}.json").write_text(json.dumps(
        {"patches_per_s": batches * BATCH / seconds, "peak_mib": peak}))


def _make_cases(shape: tuple[int, int, int], count: int, data: Path) -> None:
    from data_pipeline.preprocess import PAPER_STEPS, preprocess
    from data_pipeline.synthetic.phantom import make_head_phantom

    spacing = (0.5 * 405 / shape[0], 0.45 * 512 / shape[1], 0.45 * 512 / shape[2])
    for i in range(count):
        phantom = make_head_phantom(shape, spacing, np.random.default_rng(i))
        case = preprocess(phantom.hu, phantom.lesion, PAPER_STEPS)
        np.savez(data / f"case-{i}.npz", image=case.image, lesion=case.lesion, brain=case.brain)
        print(f"  case {i}: crop {case.image.shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="smaller scans and 64^3 patches")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--batches", type=int, default=64, help="timed batches per contender")
    parser.add_argument("--queue-length", type=int, default=64)
    parser.add_argument("--step-seconds", type=float, default=19.0,
                        help="train step time to compare with (default: CPU, reference machine)")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--patch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.patch, args.batches, args.queue_length)
        return
    shape, patch = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory(prefix="bench-sampling-") as tmp:
        data = Path(tmp)
        print(f"{args.cases} synthetic cases {shape}, PAPER_STEPS; label sampler, {patch}^3 "
              f"patches, {PER_PATIENT} per patient, batch {BATCH}, queue {args.queue_length}")
        _make_cases(shape, args.cases, data)
        results = {}
        for name in CONTENDERS:
            subprocess.run([sys.executable, __file__, "--worker", name, "--data", str(data),
                            "--patch", str(patch), "--batches", str(args.batches),
                            "--queue-length", str(args.queue_length)], check=True)
            results[name] = json.loads((data / f"{name}.json").read_text())
            r = results[name]
            print(f"  {name:9s} {r['patches_per_s']:7.1f} patches/s   peak RSS "
                  f"{r['peak_mib']:6.0f} MiB")
    demand = BATCH / args.step_seconds
    ours = results["platform"]["patches_per_s"]
    print(f"platform / torchio defaults: {ours / results['torchio']['patches_per_s']:.2f}x; "
          f"train step demand {demand:.2f} patches/s (batch {BATCH} every "
          f"{args.step_seconds:g} s): supply {ours / demand:.0f}x the demand; sampling keeps up "
          f"with any step slower than {BATCH / ours:.3f} s")


if __name__ == "__main__":
    main()

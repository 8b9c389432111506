"""Benchmark: the paper's preprocessing of one scan, platform vs plain NumPy/SciPy.

Usage::

    .venv/bin/python benchmarks/bench_preprocess.py            # 405 x 512 x 512 phantom
    .venv/bin/python benchmarks/bench_preprocess.py --small    # 128 x 256 x 256

Both contenders run the final configuration (``PAPER_STEPS``: HU window [0, 80],
skull removal, standardization, min-max, crop to the brain) with the ``"enclosed"``
skull-removal rule on the same synthetic head, each in its own subprocess so that its
peak RSS is its own; a third run, ``default``, times ``PAPER_STEPS`` as configured
(skull removal ``"hull"``, ``docs/skull_removal.md``) and is not compared. The
reference is the straightforward version of the same steps: a full float32 copy,
``scipy.ndimage.label`` slice by slice for the enclosed regions, one 3D label for the
largest linked set, boolean indexing for the statistics. Min-max treats the background
as ``PAPER_STEPS`` asks (``background: scaled``, the paper's literal formula: voxels
outside the brain are rescaled with the rest and land mid-grey, not back at 0), so both
contenders compute the same thing. The results must match
(masks and crop exactly, image to 1e-5). Anchor measured on the 2-core reference
machine for the plain version of the paper's steps: 2.56 s, 1654 MiB peak; targets:
>= 3x faster, peak RSS <= 2.5x the float32 volume. CPU time is printed beside wall
time because other jobs on a shared machine stretch wall time.
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

MIB = 1024**2
FULL = (405, 512, 512)
SMALL = (128, 256, 256)
CONTENDERS = ("reference", "platform")  # compared voxel for voxel
RUNS = (*CONTENDERS, "default")


def paper_minmax_background() -> str:
    """How ``PAPER_STEPS``' min-max treats the background: ``"zero"`` or ``"scaled"``."""
    from data_pipeline.preprocess import PAPER_STEPS
    from data_pipeline.preprocess.minmax import MinMaxParams

    spec = next(step for step in PAPER_STEPS if step.name == "minmax")
    params: MinMaxParams = spec.params  # type: ignore[assignment] # the minmax step's
    return params.background


def reference_preprocess(
    hu: np.ndarray, lesion: np.ndarray, background: str = "scaled"
) -> dict[str, np.ndarray]:
    """The same steps written plainly with NumPy/SciPy, one slice at a time.

    Args:
        background: ``"scaled"`` leaves the background where min-max puts it
            (``-low / (high - low)``); ``"zero"`` sets it back to 0.
    """
    from scipy import ndimage

    image = np.clip(hu, 0.0, 80.0).astype(np.float32)
    enclosed = np.zeros(hu.shape, dtype=bool)
    for z in range(hu.shape[0]):
        not_bone = hu[z] < 80.0
        labels, _ = ndimage.label(not_bone)
        edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        enclosed[z] = not_bone & ~np.isin(labels, edges)
    labels, _ = ndimage.label(enclosed)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    brain = labels == np.argmax(sizes)
    del labels, enclosed
    values = image[brain]
    mean, sd = values.mean(dtype=np.float64), values.std(dtype=np.float64)
    image = (image - np.float32(mean)) / np.float32(sd)
    image[~brain] = 0.0
    low, high = image.min(), image.max()
    image = (image - low) / (high - low)
    if background == "zero":
        image[~brain] = 0.0
    zs, ys, xs = (np.flatnonzero(brain.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    box = ((zs[0], zs[-1] + 1), (ys[0], ys[-1] + 1), (xs[0], xs[-1] + 1))
    crop = tuple(slice(a, b) for a, b in box)
    return {
        "image": image[crop],
        "brain": brain[crop].astype(np.uint8),
        "lesion": lesion[crop],
        "box": np.array(box),
    }


def platform_preprocess(
    hu: np.ndarray, lesion: np.ndarray, method: str = "enclosed"
) -> dict[str, np.ndarray]:
    """The platform's ``preprocess`` with the paper's final steps and skull removal by
    ``method`` (``"enclosed"`` is the rule the reference implements)."""
    from data_pipeline.preprocess import PAPER_STEPS, preprocess, step

    steps = [step(s.name, {"method": method}) if s.name == "remove_skull" else s
             for s in PAPER_STEPS]
    case = preprocess(hu, lesion, steps)
    return {
        "image": case.image,
        "brain": case.brain,
        "lesion": case.lesion,
        "box": np.array(case.crop_box),
    }


def worker(name: str, data: Path, out: Path, repeats: int) -> None:
    """Run one contender on the saved scan; write its timing, peak RSS and result."""
    background = paper_minmax_background()  # imports data_pipeline outside the timing

    def reference(hu: np.ndarray, lesion: np.ndarray) -> dict[str, np.ndarray]:
        return reference_preprocess(hu, lesion, background)

    fn = {
        "reference": reference,
        "platform": platform_preprocess,
        "default": lambda hu, lesion: platform_preprocess(hu, lesion, "hull"),
    }[name]
    import scipy.ndimage  # noqa: F401 - import outside the timing
    hu = np.load(data / "hu.npy")
    lesion = np.load(data / "lesion.npy")
    loaded = peak_rss_mib()
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(hu, lesion)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    np.savez(out / f"{name}.npz", **result)
    stats = {"seconds": min(times), "cpu_seconds": min(cpu), "peak_mib": peak_rss_mib(),
             "loaded_mib": loaded}
    (out / f"{name}.json").write_text(json.dumps(stats))


def _make_scan(shape: tuple[int, int, int], data: Path) -> None:
    from data_pipeline.synthetic.phantom import make_head_phantom

    spacing = (0.5 * FULL[0] / shape[0], 0.45 * FULL[1] / shape[1], 0.45 * FULL[2] / shape[2])
    phantom = make_head_phantom(shape, spacing, np.random.default_rng(0))
    np.save(data / "hu.npy", phantom.hu.astype(np.float32))  # float32 HU, as load_case gives
    np.save(data / "lesion.npy", phantom.lesion)


def _compare(out: Path) -> None:
    ref, new = (np.load(out / f"{name}.npz") for name in CONTENDERS)
    problems = [k for k in ("box", "brain", "lesion") if not np.array_equal(ref[k], new[k])]
    if not problems and not np.allclose(ref["image"], new["image"], rtol=0, atol=1e-5):
        diff, brain = np.abs(ref["image"] - new["image"]), new["brain"].astype(bool)
        problems.append(f"image (max diff {diff[brain].max(initial=0):.2e} inside the brain, "
                        f"{diff[~brain].max(initial=0):.2e} outside)")
    if problems:
        raise SystemExit(f"results differ: {problems}")
    print(f"results match: crop {new['box'].tolist()}, image max diff "
          f"{np.abs(ref['image'] - new['image']).max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help=f"{SMALL} instead of {FULL}")
    parser.add_argument("--repeats", type=int, default=2, help="runs per contender (best kept)")
    parser.add_argument("--worker", choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.data, args.repeats)
        return
    shape = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
        data = Path(tmp)
        _make_scan(shape, data)
        volume_mib = np.prod(shape) * 4 / MIB
        print(f"scan {shape}: float32 volume {volume_mib:.0f} MiB; best of {args.repeats} runs; "
              f"min-max background {paper_minmax_background()!r} (as PAPER_STEPS)")
        results = {}
        for name in RUNS:
            subprocess.run(
                [sys.executable, __file__, "--worker", name, "--data", str(data),
                 "--repeats", str(args.repeats)], check=True)
            results[name] = json.loads((data / f"{name}.json").read_text())
            r = results[name]
            print(f"  {name:9s} {r['seconds']:6.2f} s wall, {r['cpu_seconds']:6.2f} s CPU   "
                  f"peak RSS {r['peak_mib']:6.0f} MiB ({r['peak_mib'] / volume_mib:.2f}x "
                  f"volume; {r['loaded_mib']:.0f} MiB with the inputs loaded)")
        _compare(data)
    ref, new = results["reference"], results["platform"]
    print(f"speed-up {ref['seconds'] / new['seconds']:.1f}x wall, "
          f"{ref['cpu_seconds'] / new['cpu_seconds']:.1f}x CPU (target >= 3x); peak RSS "
          f"{new['peak_mib'] / volume_mib:.2f}x the float32 volume (target <= 2.5x), "
          f"{ref['peak_mib'] / new['peak_mib']:.1f}x less than the reference")
    if not args.small:
        print(f"anchor (plain version, reference machine): 2.56 s, 1654 MiB -> "
              f"{2.56 / new['seconds']:.1f}x by wall time ({2.56 / new['cpu_seconds']:.1f}x by "
              f"CPU time), {new['peak_mib'] / 1654:.2f}x the memory")


if __name__ == "__main__":
    main()

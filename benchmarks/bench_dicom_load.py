"""Benchmark: load one CT series with ``read_series`` vs a plain pydicom loop and SimpleITK.

Why: the training cache and ``inspect`` read every scan of a cohort, and the paper's
scans are about 405 slices of 512x512 (PAPER_SPEC.md). ``read_series`` runs all its
checks (series selection, modality, pixel format, slice order, gaps, tilt, truncation,
all-zero) and must still beat the plain loop that checks nothing.

Every contender returns the same thing, a float32 HU ``(Z, Y, X)`` volume sorted along
the slice normal, and runs in its own subprocess, so that its peak RSS is its own.
Times are the best of ``--repeat`` runs on a warm page cache.

Usage::

    .venv/bin/python benchmarks/bench_dicom_load.py            # 512x512x405 (~210 MB)
    .venv/bin/python benchmarks/bench_dicom_load.py --small    # 256x256x120
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
CONTENDERS = ("read_series", "pydicom_loop", "simpleitk")


def write_series(out: Path, slices: int, size: int, seed: int = 0) -> Path:
    """Write one case with the project's synthetic writer (scanner-like headers); its folder."""
    from data_pipeline.synthetic.generator import generate_cohort

    generate_cohort(out, 1, (slices, size, size), seed, progress=False)
    return out / "case-000" / "dicom"


def load_read_series(folder: Path) -> tuple[np.ndarray, object]:
    from data_pipeline.io.dicom import read_series

    return read_series(folder, case_key="bench").hu, None


def load_pydicom_loop(folder: Path) -> tuple[np.ndarray, object]:
    """What a plain loop does: read each file, rescale, sort by z, stack. No checks."""
    import pydicom

    slices = []
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        slices.append((float(ds.ImagePositionPatient[2]), hu))
    slices.sort(key=lambda s: s[0])
    return np.stack([s[1] for s in slices]), None


def load_simpleitk(folder: Path) -> tuple[np.ndarray, object]:
    """ImageSeriesReader (GDCM) sorts and rescales; returns a view and the image it needs."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reader.SetOutputPixelType(sitk.sitkFloat32)
    image = reader.Execute()
    return sitk.GetArrayViewFromImage(image), image  # the view dies with the image


def run_one(name: str, folder: Path, repeat: int) -> None:
    """Child process: time one contender, print JSON with its times and peak RSS."""
    sys.path.insert(0, str(REPO))
    load = {
        "read_series": load_read_series,
        "pydicom_loop": load_pydicom_loop,
        "simpleitk": load_simpleitk,
    }[name]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        volume, keepalive = load(folder)
        times.append(time.perf_counter() - start)
        checksum = float(np.sum(volume, dtype=np.float64))  # no float64 copy
        shape = [int(n) for n in volume.shape]
        del volume, keepalive
    peak_mib = peak_rss_mib()
    print(
        json.dumps(
            {
                "best_s": min(times),
                "median_s": float(np.median(times)),
                "peak_mib": peak_mib,
                "checksum": checksum,
                "shape": shape,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="256x256x120 instead of 512x512x405")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--series", type=Path, help="use this series folder instead of writing one")
    parser.add_argument("--run", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run, args.series, args.repeat)
        return
    slices, size = (120, 256) if args.small else (405, 512)
    with tempfile.TemporaryDirectory(prefix="bench_dicom_") as tmp:
        folder = args.series
        if folder is None:
            print(f"writing {slices} slices of {size}x{size} (data_pipeline.synthetic) ...")
            folder = write_series(Path(tmp) / "cohort", slices, size)
        report(folder, args.repeat)


def report(folder: Path, repeat: int) -> None:
    results = {}
    for name in CONTENDERS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--run",
                name,
                "--series",
                str(folder),
                "--repeat",
                str(repeat),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    sums = {round(r["checksum"], 3) for r in results.values()}
    voxels = int(np.prod(results["read_series"]["shape"]))
    stored_mb = voxels * 2 / 1e6  # 16-bit stored values
    volume_mib = voxels * 4 / 2**20
    base, sitk = results["pydicom_loop"]["best_s"], results["simpleitk"]["best_s"]
    print(
        f"series {'x'.join(map(str, results['read_series']['shape']))} (Z,Y,X), float32 volume "
        f"{volume_mib:.0f} MiB, best of {repeat}, same volume from all: {len(sums) == 1}"
    )
    print(
        f"{'contender':14s} {'best s':>7s} {'MB/s':>6s} {'vs pydicom':>10s} {'vs sitk':>8s} "
        f"{'peak MiB':>9s} {'peak/vol':>8s}"
    )
    for name, r in results.items():
        print(
            f"{name:14s} {r['best_s']:7.3f} {stored_mb / r['best_s']:6.0f} "
            f"{base / r['best_s']:9.2f}x {sitk / r['best_s']:7.2f}x {r['peak_mib']:9.0f} "
            f"{r['peak_mib'] / volume_mib:8.2f}"
        )


if __name__ == "__main__":
    main()

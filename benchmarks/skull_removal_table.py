"""Skull removal per method and anatomy: lesion kept, brain missed, non-brain kept.

Usage::

    .venv/bin/python benchmarks/skull_removal_table.py        # the tests' heads: 64^3, 4 seeds
    .venv/bin/python benchmarks/skull_removal_table.py --shape 405,512,512 \\
        --anatomies craniectomy --methods hull --seeds 0       # one full-size head

Each synthetic head (``data_pipeline.synthetic.phantom``, spacing 0.5 x 0.45 x 0.45 mm scaled to
the shape) goes through ``remove_skull`` with each method. Printed per method and
anatomy, worst case over the seeds: the share of lesion voxels kept, the share of brain
voxels missed, and the non-brain voxels kept (count, and share of the mask), with the
mean seconds per head. Markdown, as ``docs/skull_removal.md`` holds it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.preprocess.remove_skull import (  # noqa: E402
    RemoveSkullParams,
    remove_skull,
)
from data_pipeline.preprocess.volume import Volume  # noqa: E402
from data_pipeline.synthetic.phantom import Anatomy, make_head_phantom  # noqa: E402

ANATOMIES = {
    "closed": Anatomy(),
    "craniectomy": Anatomy(craniectomy=True),
    "thin_vertex": Anatomy(thin_vertex=True),
    "holder_contact": Anatomy(holder_contact=True),
}
METHODS = ("hull", "enclosed", "paper")
PAPER_GRID = ((405, 512, 512), (0.5, 0.45, 0.45))


def figures(mask: np.ndarray, lesion: np.ndarray, brain: np.ndarray) -> tuple[float, ...]:
    """(lesion kept %, brain missed %, non-brain voxels kept, non-brain % of the mask)."""
    kept = 100 * np.count_nonzero(mask & lesion) / max(np.count_nonzero(lesion), 1)
    missed = 100 * np.count_nonzero(brain & ~mask) / np.count_nonzero(brain)
    extra = np.count_nonzero(mask & ~brain)
    return kept, missed, extra, 100 * extra / max(np.count_nonzero(mask), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="64,64,64", help="Z,Y,X voxels per head")
    parser.add_argument("--seeds", default="0,1,2,3", help="phantom seeds, comma-separated")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--anatomies", default=",".join(ANATOMIES))
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    full, mm = PAPER_GRID
    spacing = tuple(d * f / n for d, f, n in zip(mm, full, shape, strict=True))
    seeds = [int(v) for v in args.seeds.split(",")]
    methods = args.methods.split(",")
    rows: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for anatomy in args.anatomies.split(","):
        for seed in seeds:
            head = make_head_phantom(
                shape, spacing, np.random.default_rng(seed), anatomy=ANATOMIES[anatomy]
            )
            hu, lesion, brain = head.hu.astype(np.float32), head.lesion.astype(bool), head.brain
            for method in methods:
                start = time.perf_counter()
                volume = Volume.start(hu, head.lesion)
                mask = remove_skull(volume, RemoveSkullParams(method=method)).brain
                seconds = time.perf_counter() - start
                rows.setdefault((method, anatomy), []).append(
                    (*figures(mask, lesion, brain), seconds)
                )
    print(f"heads {shape}, spacing {tuple(round(d, 3) for d in spacing)} mm, seeds {seeds}")
    print("| method | anatomy | lesion kept % (min) | brain missed % (max) | "
          "non-brain kept, voxels (max) | non-brain % of mask (max) | s per head |")
    print("|---|---|---|---|---|---|---|")
    for (method, anatomy), values in rows.items():
        kept = min(v[0] for v in values)
        missed = max(v[1] for v in values)
        extra = max(v[2] for v in values)
        share = max(v[3] for v in values)
        seconds = float(np.mean([v[4] for v in values]))
        print(f"| {method} | {anatomy} | {kept:.2f} | {missed:.2f} | {extra:.0f} | "
              f"{share:.2f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()

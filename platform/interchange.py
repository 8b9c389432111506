"""``python -m platform.interchange SWEEP.yaml [key=value ...] --out DIR``: files other tools read.

Writes the sweep's folds as nnU-Net's ``splits_final.json`` and its cohort as a MONAI
Auto3DSeg datalist (``{"training": [{"image", "label", "fold"}], "testing": [{"image"}]}``,
paths relative to the cohort folder), so a lab can train nnU-Net or Auto3DSeg on exactly
the folds of a sweep::

    python -m platform.interchange sweeps/ablation.yaml data.cohort=/data/cohort --out DIR

The datalist holds file paths, so it is written to ``DIR`` only and never logged. The
formats are :mod:`platform.evaluation.nnunet`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.cohort.splits import Fold, save_nnunet_splits
from platform.config import ConfigError, load_sweep
from platform.evaluation.nnunet import auto3dseg_datalist
from platform.sweep.context import build_context, materialize_cohort

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``splits_final.json`` and ``datalist.json`` of a sweep; exit 2 on a bad input."""
    parser = argparse.ArgumentParser(prog="python -m platform.interchange", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="sweep YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides")
    parser.add_argument("--out", type=Path, required=True, help="folder for the two files")
    args = parser.parse_intermixed_args(argv)
    try:
        sweep = load_sweep(args.sweep, args.overrides)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    cohort = materialize_cohort(sweep.data)
    context = build_context(sweep, cohort, parent_run_id=None)
    args.out.mkdir(parents=True, exist_ok=True)
    save_nnunet_splits(args.out / "splits_final.json",
                       [Fold(f.index, f.train, f.test) for f in context.folds])
    test = load_cohort(Path(sweep.data.test_cohort)) if sweep.data.test_cohort else []
    root = cohort if cohort.is_dir() else cohort.parent
    datalist = auto3dseg_datalist(load_cohort(cohort), {k: f.index for f in context.folds
                                                        for k in f.test}, root=root,
                                  test_refs=test)
    (args.out / "datalist.json").write_text(json.dumps(datalist, indent=2))
    print(f"wrote {args.out / 'splits_final.json'} and {args.out / 'datalist.json'} "
          f"(dataroot {root})")
    return 0



if __name__ == "__main__":
    sys.exit(main())

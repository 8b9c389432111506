"""Write any cohort as an nnU-Net v2 raw dataset: ``python -m data_pipeline.nnunet_export``.

::

    python -m data_pipeline.nnunet_export COHORT OUT [--test-cohort TEST] [--name Dataset501_Stroke]

Why: to run nnU-Net as a baseline on the very cases (and, with ``platform.evaluation.nnunet``,
the very folds) of a sweep, and to hand a DICOM cohort to tools that read NIfTI. Each
case is loaded exactly as training loads it (``cohort.load_case``: the checked HU volume
and the mask on its grid), then written as ``imagesTr/<key>_0000.nii.gz`` (int16 HU when
every value is whole, as nnU-Net's own converters write CT) and
``labelsTr/<key>.nii.gz`` (uint8 0/1); test cases go to ``imagesTs``/``labelsTs``. The
files carry only the grid (no DICOM header is copied), and case identifiers are the
cohort's pseudonymous keys.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from data_pipeline.cohort.cohort import CaseRef, CohortError, load_case, load_cohort
from data_pipeline.errors import DataError
from data_pipeline.io.labels import write_mask
from data_pipeline.io.nnunet_dataset import DATASET_JSON
from data_pipeline.io.volume_io import write_volume

__all__ = ["main", "write_nnunet_dataset"]

logger = logging.getLogger(__name__)

FILE_ENDING = ".nii.gz"


def write_nnunet_dataset(out: Path, train: Sequence[CaseRef], test: Sequence[CaseRef] = (),
                         *, name: str = "Dataset501_StrokeCT") -> Path:
    """Write ``train`` (and ``test``) cases as an nnU-Net v2 raw dataset under ``out / name``.

    Returns:
        The dataset folder (the one holding ``dataset.json``).

    Raises:
        ValueError: a key in both ``train`` and ``test``.
        DataError: a case that cannot be loaded (names it).
    """
    both = sorted({r.key for r in train} & {r.key for r in test})
    if both:
        raise ValueError(f"cases {both[:5]} are in both the training and the test cases; "
                         "a test case must never be a training case")
    folder = Path(out) / name
    for split, refs in (("Tr", train), ("Ts", test)):
        for ref in refs:
            case = load_case(ref)
            images, labels = folder / f"images{split}", folder / f"labels{split}"
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            write_volume(images / f"{ref.key}_0000{FILE_ENDING}", case.hu, case.geometry)
            write_mask(labels / f"{ref.key}{FILE_ENDING}", case.lesion, case.geometry)
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "lesion": 1},
            "numTraining": len(train), "file_ending": FILE_ENDING,
            "name": name, "description": "exported by data_pipeline.io.nnunet_export"}
    (folder / DATASET_JSON).write_text(json.dumps(meta, indent=2))
    logger.info("wrote %d training and %d test cases to %s", len(train), len(test), folder)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit 0 written, 1 a case could not be loaded, 2 a cohort cannot be read."""
    parser = argparse.ArgumentParser(prog="python -m data_pipeline.nnunet_export",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cohort", type=Path, help="the cohort (any layout load_cohort reads)")
    parser.add_argument("out", type=Path, help="folder that receives the dataset folder")
    parser.add_argument("--test-cohort", type=Path, default=None,
                        help="cases written to imagesTs/labelsTs")
    parser.add_argument("--name", default="Dataset501_StrokeCT", help="the dataset folder name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        train = load_cohort(args.cohort)
        test = load_cohort(args.test_cohort) if args.test_cohort else []
    except CohortError as err:
        print(f"cannot read the cohort: {err}", file=sys.stderr)
        return 2
    try:
        folder = write_nnunet_dataset(args.out, train, test, name=args.name)
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(folder)
    return 0


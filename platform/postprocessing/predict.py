"""Segment a new patient with a trained trial: ``python -m platform.predict``.

::

    python -m platform.predict --model RUN_ID --dicom DIR --out mask.nii.gz
    python -m platform.predict --model models:/stroke-final@champion --dicom DIR --out m.dcm

The model is a trial's portable MLflow model (``platform.tracking.portable_model``): a
trial's run id, ``runs:/<run id>[/model]``, ``models:/<model id>``, or a registered model
``models:/<name>@<alias>`` / ``models:/<name>/<version>`` (``--tracking-uri`` or
``MLFLOW_TRACKING_URI`` says which store); a fold ensemble's logged model
(``<variant>-ensemble``, :mod:`platform.postprocessing.ensemble_model`) predicts with its
members and applies its post-processing. With ``--variant NAME`` and a sweep's parent
run id as ``--model``, every finished fold model of that variant predicts and their
probabilities are averaged (``platform.postprocessing.ensemble``), then the post-processing
chosen on
the cross-validation predictions is applied. The CT may be a DICOM series folder or a
NIfTI, NRRD or MHA file (``--dicom FILE``). It goes through the same preprocessing and
tiled inference as in evaluation (:func:`platform.inference.segment.segment_volume`), and the mask
is pasted back onto the original grid and written as NIfTI or NRRD by suffix, or
as a DICOM Segmentation of the source series when ``--out`` ends in ``.dcm`` (it then
belongs to the patient's study, for PACS and DICOM viewers).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from data_pipeline.cohort.cohort import CaseRef, read_ct
from data_pipeline.errors import DataError
from data_pipeline.io.dicom_seg import write_dicom_seg
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.labels import write_mask
from platform.config import TrialConfig
from platform.inference.segment import segment_volume
from platform.postprocessing.ensemble import load_predictor
from platform.postprocessing.rules import apply_postprocessing
from platform.tracking import resolve_tracking_uri

__all__ = ["main", "segment_series"]

logger = logging.getLogger(__name__)


def segment_series(
    model: torch.nn.Module, config: TrialConfig, dicom_dir: Path, *, device: torch.device
) -> tuple[np.ndarray, Geometry]:
    """Binary lesion mask on the series' full grid, and the series geometry."""
    volume = read_ct(CaseRef("input", dicom_dir, None))  # a DICOM folder or a volume file
    return segment_volume(model, config, volume.hu, device=device), volume.geometry


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit code 2 for bad input (unreadable series, unknown run)."""
    parser = argparse.ArgumentParser(prog="python -m platform.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="a trial's run id, runs:/RUN_ID[/model], models:/MODEL_ID, "
                        "models:/NAME@ALIAS or models:/NAME/VERSION; with --variant, the "
                        "sweep's parent run id")
    parser.add_argument("--dicom", required=True, type=Path,
                        help="folder with one CT series, or a NIfTI/NRRD/MHA CT file")
    parser.add_argument("--variant", default=None,
                        help="ensemble this variant's fold models (with the post-processing "
                        "chosen for it)")
    parser.add_argument("--out", required=True, type=Path,
                        help="mask file: .nii.gz / .nii / .nrrd, or .dcm for a DICOM SEG")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.out.suffix.lower() == ".dcm" and not args.dicom.is_dir():
        print("error: a DICOM SEG (--out *.dcm) references the source DICOM series; give "
              "--dicom a series folder, or write .nii.gz / .nrrd", file=sys.stderr)
        return 2
    uri = resolve_tracking_uri(args.tracking_uri, default_root=Path("runs").resolve())
    try:
        model, resolved, postprocessing = load_predictor(uri, args.model, args.variant)
        config = TrialConfig.model_validate(resolved)
        started = time.perf_counter()
        mask, geometry = segment_series(model, config, args.dicom, device=torch.device(args.device))
        mask = apply_postprocessing(postprocessing, mask, geometry.spacing)
    except (DataError, LookupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out.suffix.lower() == ".dcm":
        write_dicom_seg(mask, args.dicom, args.out, case_key="input",
                        algorithm_version=f"mlflow {args.model}")
    else:
        write_mask(args.out, mask, geometry)
    logger.info("wrote %s (%d lesion voxels) in %.1f s", args.out, int(mask.sum()),
                time.perf_counter() - started)
    return 0


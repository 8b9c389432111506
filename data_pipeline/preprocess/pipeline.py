"""Run a validated step sequence on one scan: ``preprocess(hu, lesion, steps)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from data_pipeline.parts import PartSpec
from data_pipeline.preprocess.registry import resolve_steps
from data_pipeline.preprocess.volume import PreprocessedCase, Volume

__all__ = ["preprocess"]

logger = logging.getLogger(__name__)


def preprocess(hu: np.ndarray, lesion: np.ndarray, steps: Sequence[PartSpec]) -> PreprocessedCase:
    """Preprocess one scan with ``steps``, in order (paper section 2.1; no resampling).

    Memory: besides the inputs (which are never modified), a uint8 brain mask of the
    full grid, one float64 copy of the brain voxels for statistics, and the cropped
    outputs. Time on a 512 x 512 x 405 scan: see ``benchmarks/bench_preprocess.py``.

    Args:
        hu: ``(Z, Y, X)`` Hounsfield units (float or integer dtype).
        lesion: ``(Z, Y, X)`` 0/1 lesion mask on the same grid.
        steps: validated steps (:func:`~data_pipeline.preprocess.step`), e.g.
            :data:`~data_pipeline.preprocess.PAPER_STEPS`.

    Returns:
        The cropped image in [0, 1] with its lesion, brain mask and crop box.

    Raises:
        ValueError: a wrong step order, mismatched shapes, or a volume the
            steps cannot handle (no brain found, constant image).
    """
    volume = Volume.start(hu, lesion)
    for apply, params in resolve_steps(steps):
        volume = apply(volume, params)
    case = volume.to_case()
    logger.debug(
        "preprocessed %s -> crop %s, %d brain voxels",
        hu.shape, case.crop_box, int(case.brain.sum(dtype=np.int64)),
    )
    return case

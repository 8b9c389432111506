"""One CT volume in Hounsfield units -> a lesion mask on the same grid, as a trial evaluates.

Why one function: ``python -m platform.predict`` (a DICOM series from disk) and the
portable MLflow model (:mod:`platform.tracking.portable_model`, a volume handed over by
``mlflow.pyfunc``) must give the mask the trial's evaluation scored, so both run the
trial's preprocessing steps, its tiled inference and threshold, and paste the cropped
mask back onto the input grid, through this one path. The preprocessed image is
rounded as the preprocessing cache stores it (16-bit fixed point, at most 7.6e-6 off,
:func:`data_pipeline.cache.stored_image`): the network then sees exactly what it saw
in the trial's evaluation, so a voxel whose probability sits at the threshold cannot
flip.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from data_pipeline.cache import stored_image
from data_pipeline.preprocess import preprocess
from platform.config.trial import TrialConfig
from platform.inference import from_config
from platform.inference.sliding_window import binarize

__all__ = ["segment_volume"]


def segment_volume(network: torch.nn.Module, config: TrialConfig, hu: np.ndarray, *,
                   device: torch.device) -> np.ndarray:
    """Binary lesion mask ``(Z, Y, X)`` uint8 of ``hu`` on its own grid.

    Args:
        network: the trial's network in eval mode (logits, one channel).
        config: the trial's resolved config: preprocessing steps, ``eval.inference``,
            ``eval.threshold``, patch size and ``train.amp`` are applied as in evaluation.
        hu: CT volume ``(Z, Y, X)`` in Hounsfield units (any real dtype).
        device: where inference runs.

    Raises:
        ValueError: ``hu`` is not a 3-D array of finite numbers.
    """
    volume = np.asarray(hu)
    if volume.ndim != 3 or not np.issubdtype(volume.dtype, np.number):
        raise ValueError(f"expected a CT volume (Z, Y, X) of numbers in HU, got an array of "
                         f"shape {volume.shape} and dtype {volume.dtype}")
    if not np.isfinite(volume).all():
        raise ValueError("the CT volume holds NaN or infinite values; pass Hounsfield units")
    volume = volume.astype(np.float32, copy=False)
    case = preprocess(volume, np.zeros(volume.shape, dtype=np.uint8),
                      config.preprocessing.steps)
    case = replace(case, image=stored_image(case.image))
    probability = from_config.inference(config)(
        network, case.image, patch_size=from_config.patch_size(config), device=device,
        amp=config.train.amp is not False, brain=case.brain.astype(bool))
    mask: np.ndarray = case.paste(binarize(probability, config.eval.threshold))
    return mask.astype(np.uint8, copy=False)

"""The whole-volume inference a trial's config asks for, and the patch size it runs at.

These two readings of a :class:`~platform.config.trial.TrialConfig` live with the
inference stage (not with the trial's parts) so that every user of a trained network,
the evaluation, the fold ensembles and the portable model alike, predicts exactly as
the trial that trained it.
"""

from __future__ import annotations

from platform.config.trial import TrialConfig
from platform.inference.sliding_window import INFERENCE, SlidingWindow

__all__ = ["inference", "patch_size"]


def inference(config: TrialConfig) -> SlidingWindow:
    """The configured whole-volume inference (``eval.inference``)."""
    built: SlidingWindow = INFERENCE.create(config.eval.inference)
    return built


def patch_size(config: TrialConfig) -> tuple[int, int, int]:
    """The training patch size, also the inference patch size."""
    size: tuple[int, int, int] = config.sampler.params.patch_size
    return size

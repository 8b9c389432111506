"""The portable trial model, wired: the trial's network builder and segmentation in a pyfunc.

:class:`platform.tracking.portable_model.PortableSegmentationModel` knows MLflow and
nothing of the trial layer; this subclass gives it the two callables a trial uses (the
network of a config, and the evaluation's preprocessing + tiled inference + threshold),
so a loaded model predicts exactly the mask the trial's evaluation scored.
:data:`MODEL_CODE` is the entry file MLflow stores with every model and runs on load.
"""

from __future__ import annotations

from pathlib import Path

from platform.inference.segment import segment_volume
from platform.tracking.portable_model import PortableSegmentationModel
from platform.trial.parts import network

__all__ = ["MODEL_CODE", "LesionSegmentationModel"]

MODEL_CODE = Path(__file__).with_name("model_code.py")
"""The models-from-code file MLflow stores with every trial model and runs on load."""


class LesionSegmentationModel(PortableSegmentationModel):
    """A trial's portable model: its network rebuilt from the config, segmenting as the
    trial's evaluation does (see :class:`PortableSegmentationModel`)."""

    def __init__(self) -> None:
        super().__init__(build_network=network, segment=segment_volume)

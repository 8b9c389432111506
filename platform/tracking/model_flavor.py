"""Where models logged before the stage layout (issue 26) find their class: keep this path.

A portable model's stored entry file (``model_code.py``, copied into the model at log
time) runs ``from platform.tracking.model_flavor import LesionSegmentationModel``. The
class now lives with the trial stage that wires it (:mod:`platform.trial.portable_model`);
this alias is the one import from tracking up to the trial layer, named as an exception
in ``tests/test_architecture.py``, and nothing in the packages imports it.
"""

from platform.trial.portable_model import LesionSegmentationModel

__all__ = ["LesionSegmentationModel"]

"""platform.tracking.model_flavor: the import path of models logged before the stage layout.

A portable model stores its entry file; those logged before issue 26 import
``LesionSegmentationModel`` from this module, so it must keep naming the trial stage's
class. Loading and predicting with such a model is in
``tests/test_stored_work_survives_layout.py``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import platform.trial.portable_model as trial_model

STORED_ENTRY = (Path(__file__).resolve().parents[2] / "fixtures" / "model_before_stage_layout"
                / "model_code.py")


def test_the_old_entry_files_import_resolves_to_the_trial_stages_model() -> None:
    imports = re.findall(r"^from (platform\S*) import (\w+)", STORED_ENTRY.read_text(), re.M)
    assert imports == [("platform.tracking.model_flavor", "LesionSegmentationModel")]
    ((module, name),) = imports
    assert getattr(importlib.import_module(module), name) is trial_model.LesionSegmentationModel

"""data_pipeline/defaults.py: one lesion-loss default for inspect and the sweep schema."""

from __future__ import annotations

import inspect as python_inspect

from data_pipeline.cohort import inspect
from data_pipeline.defaults import DEFAULT_MAX_LESION_LOSS
from platform.config.trial import PreprocessingConfig  # the schema that reads the default


def test_inspect_and_the_sweep_refuse_at_the_same_share_of_lesion_lost() -> None:
    assert PreprocessingConfig().max_lesion_loss == DEFAULT_MAX_LESION_LOSS == 0.005
    assert "DEFAULT_MAX_LESION_LOSS" in python_inspect.getsource(inspect)

"""Issue 28: every project exception pickles and copies with its fields.

A trial's error crosses the Ray boundary: Ray Tune pickles it in the worker and copies it
(``copy.copy`` in ``ray.air._internal.util.skip_exceptions``). An exception whose
``__init__`` takes other arguments than ``args`` breaks both, and Ray then replaces it with
a ``TypeError`` (issue 28: ``NonFiniteLossError`` was retried and reported "not run").
The classes are found by walking every module of the three packages, so a new exception
without a sample below fails :func:`test_every_project_exception_has_a_sample`.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import math
import pickle
import pkgutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("platform", "models", "data_pipeline")

SAMPLES: dict[str, tuple[Any, ...]] = {
    "data_pipeline.cohort.manifest.CohortError": ("cohort.yaml: no cases",),
    "data_pipeline.cohort.pseudonym.SaltError": ("the salt file is empty",),
    "data_pipeline.errors.DataError": ("case-003", "slice file 7 of 40 (x.dcm) is not DICOM"),
    "data_pipeline.io.nnunet_dataset.NnunetDatasetError": ("dataset.json: no labels",),
    "data_pipeline.parts.errors.DuplicateNameError": ("loss 'dice' is registered twice",),
    "data_pipeline.parts.errors.ParamsError": (
        "loss", "dice", [(("eps",), "not a parameter", 0.1, "smooth")], ("smooth=1.0",)),
    "data_pipeline.parts.errors.UnknownNameError": ("loss", "dicee", ["dice", "bce_dice"]),
    "data_pipeline.parts.plugins.PluginError": ("plugin 'lab' failed: ImportError: x",),
    "platform.config.errors.ConfigError": (["a.yaml: train.iterations: must be > 0; got 0",
                                            "a.yaml: cv.folds: must be >= 2; got 1"],),
    "platform.config.overrides._PathError": (("model", "se_ratoi"), "unknown key",
                                             ("se_ratio", "se")),
    "platform.trial.stops.DivergingLossError": (12, 3.5e9, 1.4, 100.0),
    "platform.trial.stops.NonFiniteLossError": (7, math.nan, 0.5),
    "platform.trial.stops.TrainingStopped": ("non-finite loss at iteration 3",),
    "platform.tracking.store.StoreError": ("out-of-date database schema",),
    "platform.tracking.sweep_lock.SweepAlreadyRunning": ("sweep 'tiny' is already running",),
    "platform.tune.storage.ExperimentInUse": ("ray/tiny-7797355b90 is in use",),
}
"""Constructor arguments of each project exception (qualified name -> args)."""


@functools.cache
def project_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in the three packages, by qualified name (imports
    every module: about 15 s)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], f"{package}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == module.__name__):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def sample_error(name: str) -> BaseException:
    """The exception ``name`` of :data:`SAMPLES` built from its sample arguments (imports
    only its module)."""
    module, _, qualname = name.rpartition(".")
    return getattr(importlib.import_module(module), qualname)(*SAMPLES[name])


def test_every_project_exception_has_a_sample() -> None:
    found = project_exceptions()
    missing = sorted(set(found) - set(SAMPLES))
    assert not missing, f"add constructor arguments to SAMPLES for {missing}"
    assert not sorted(set(SAMPLES) - set(found)), "SAMPLES names a class that is gone"


def _fields(error: BaseException) -> dict[str, str]:
    """What a copy must keep: the class, the message and every attribute (as text: NaN)."""
    return {"type": type(error).__qualname__, "str": str(error),
            **{k: repr(v) for k, v in vars(error).items()}}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_project_exception_pickles_and_copies_with_its_fields(name: str) -> None:
    error = sample_error(name)
    for how, twin in (("pickle", pickle.loads(pickle.dumps(error))),
                      ("copy.copy", copy.copy(error)), ("copy.deepcopy", copy.deepcopy(error))):
        assert _fields(twin) == _fields(error), f"{name} changed through {how}"
        assert twin.with_traceback(None) is twin  # what Ray's skip_exceptions does next

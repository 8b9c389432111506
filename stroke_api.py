"""The platform's public Python API, importable from any folder, a script or a notebook.

Why a module outside ``platform/``: wherever the repository root is not the current
folder (an installed project, a notebook elsewhere), ``import platform`` finds Python's
standard module, which has no submodules, so ``from platform.interchange import ...``
fails with "__path__ attribute not found on 'platform'". Importing this module first
makes ``platform`` the project's package in the running process
(:func:`stroke_cli.use_project_platform`; the package re-exports the standard module, so
other code calling ``platform.system()`` keeps working) and re-exports the functions a
researcher reaches for::

    import stroke_api
    summary = stroke_api.read_summary(Path("summary.json"))        # nnU-Net summary.json
    sweep = stroke_api.load_sweep(Path("sweeps/quickstart.yaml"), ["cv.folds=2"])
    files = stroke_api.build_report("sqlite:////data/runs/mlflow.db", PARENT_RUN_ID,
                                    Path("paper"))
    from platform.evaluation.metrics import segmentation_metrics   # any module, after it

Names resolve lazily (importing this module costs no torch or MLflow import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stroke_cli import use_project_platform

if TYPE_CHECKING:  # for readers and type checkers; at run time __getattr__ imports them
    from data_pipeline.cohort.cohort import load_cohort
    from data_pipeline.cohort.splits import save_nnunet_splits
    from platform.config.sweep import load_sweep
    from platform.evaluation.metrics import segmentation_metrics
    from platform.evaluation.nnunet import read_summary
    from platform.postprocessing.predict import segment_series
    from platform.report.rebuild import build_report

__all__ = ["API", "build_report", "load_sweep", "read_summary", "segment_series",
           "segmentation_metrics", "load_cohort", "save_nnunet_splits"]

API: dict[str, str] = {
    "build_report": "platform.report.rebuild",
    "load_sweep": "platform.config.sweep",
    "read_summary": "platform.evaluation.nnunet",
    "segment_series": "platform.postprocessing.predict",
    "segmentation_metrics": "platform.evaluation.metrics",
    "load_cohort": "data_pipeline.cohort.cohort",
    "save_nnunet_splits": "data_pipeline.cohort.splits",
}
"""Public name -> the module that defines it."""

use_project_platform()


def __getattr__(name: str) -> Any:
    """Import the public ``name`` from its module on first use."""
    if name not in API:
        raise AttributeError(f"stroke_api has no {name!r}; public names: {sorted(API)}")
    return getattr(importlib.import_module(API[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))

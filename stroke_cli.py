"""Console-script launchers that reach the project's ``platform`` package from any folder.

Why a module outside ``platform/``: a console script starts with the standard library
ahead of the repository on ``sys.path``, so ``import platform.sweep`` would find the
standard ``platform`` module (no ``__path__``). These launchers put the folder that
holds the project's packages first on ``sys.path`` and evict an already-imported standard
``platform`` before importing ours, which re-exports the standard module faithfully
(:mod:`platform._stdlib`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

__all__ = ["sweep", "trial", "predict", "import_project_platform"]

PROJECT_ROOT = os.path.dirname(os.path.abspath(__file__))


def import_project_platform() -> None:
    """Make ``import platform`` resolve to the project's package in this process."""
    sys.path[:] = [PROJECT_ROOT] + [p for p in sys.path if p != PROJECT_ROOT]
    loaded = sys.modules.get("platform")
    if loaded is not None and not hasattr(loaded, "__path__"):
        del sys.modules["platform"]
    importlib.import_module("platform")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (PROJECT_ROOT, os.environ.get("PYTHONPATH", "")) if p
    )


def _entry(module: str) -> Callable[[], int]:
    def run() -> int:
        import_project_platform()
        return importlib.import_module(module).main()

    run.__doc__ = f"Run ``python -m {module}`` from any folder."
    return run


sweep = _entry("platform.sweep")
trial = _entry("platform.trial")
predict = _entry("platform.predict")

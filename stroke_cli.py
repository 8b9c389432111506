"""Console-script launchers that reach the project's ``platform`` package from any folder.

Why a module outside ``platform/``: a console script starts with the standard library
ahead of the repository on ``sys.path``, so ``import platform.sweep.run`` would find the
standard ``platform`` module (no ``__path__``). These launchers put the folder that
holds the project's packages first on ``sys.path`` and evict an already-imported standard
``platform`` before importing ours, which re-exports the standard module faithfully
(:mod:`platform._stdlib`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType

__all__ = ["COMMANDS", "sweep", "trial", "predict", "report", "interchange", "parameters",
           "store", "inspect_cohort", "synthetic", "nnunet_export", "import_project_platform",
           "use_project_platform"]

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


def use_project_platform() -> ModuleType:
    """Make ``platform`` the project's package in this process, leaving ``sys.path`` alone.

    For code that runs inside someone else's process, such as the portable model that
    ``mlflow.pyfunc.load_model`` executes (:mod:`platform.tracking.model_code`): there the
    standard module is usually imported already and the installed packages sit after
    the standard library on ``sys.path``. The project's ``platform/__init__.py`` beside
    this file is loaded under the name ``platform`` (it re-exports the standard module,
    so callers of ``platform.system()`` keep working); ``sys.path`` and the environment
    are not touched. Returns the package.
    """
    loaded = sys.modules.get("platform")
    if loaded is not None and hasattr(loaded, "__path__"):
        return loaded
    package = os.path.join(PROJECT_ROOT, "platform")
    spec = importlib.util.spec_from_file_location(
        "platform", os.path.join(package, "__init__.py"), submodule_search_locations=[package])
    if spec is None or spec.loader is None:
        raise ImportError(f"the project's platform package is not beside {__file__}; "
                          "reinstall the project (pip install stroke-ablation-platform)")
    module = importlib.util.module_from_spec(spec)
    sys.modules["platform"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if loaded is not None:
            sys.modules["platform"] = loaded
        raise
    return module


def _entry(command: str, module: str) -> Callable[[], int]:
    def run() -> int:
        import_project_platform()
        return importlib.import_module(module).main()

    run.__doc__ = f"Run ``python -m {command}`` from any folder."
    return run


COMMANDS: dict[str, tuple[str, str]] = {
    "stroke-sweep": ("platform.sweep", "platform.sweep.__main__"),
    "stroke-trial": ("platform.trial", "platform.trial.__main__"),
    "stroke-predict": ("platform.predict", "platform.postprocessing.predict"),
    "stroke-report": ("platform.report", "platform.report.rebuild"),
    "stroke-interchange": ("platform.interchange", "platform.interchange"),
    "stroke-parameters": ("platform.parameters", "platform.parameters"),
    "stroke-store": ("platform.store", "platform.store"),
    "stroke-inspect": ("data_pipeline.inspect", "data_pipeline.cohort.inspect"),
    "stroke-synthetic": ("data_pipeline.synthetic", "data_pipeline.synthetic.generator"),
    "stroke-nnunet-export": ("data_pipeline.nnunet_export", "data_pipeline.io.nnunet_export"),
}
"""Console script -> (the ``python -m`` command it stands for, the module whose ``main`` runs).
``[project.scripts]`` in ``pyproject.toml`` names one launcher below per entry (a test
checks the two agree)."""

sweep = _entry(*COMMANDS["stroke-sweep"])
trial = _entry(*COMMANDS["stroke-trial"])
predict = _entry(*COMMANDS["stroke-predict"])
report = _entry(*COMMANDS["stroke-report"])
interchange = _entry(*COMMANDS["stroke-interchange"])
parameters = _entry(*COMMANDS["stroke-parameters"])
store = _entry(*COMMANDS["stroke-store"])
inspect_cohort = _entry(*COMMANDS["stroke-inspect"])
synthetic = _entry(*COMMANDS["stroke-synthetic"])
nnunet_export = _entry(*COMMANDS["stroke-nnunet-export"])

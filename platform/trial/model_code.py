"""MLflow *models from code* entry of a trial's segmentation model: run by MLflow, not imported.

MLflow stores this file with every trial model and executes it in
``mlflow.pyfunc.load_model``; ``set_model`` hands MLflow the model object, whose
``load_context`` then reads the weights and config stored beside it
(:mod:`platform.trial.portable_model`). Outside this repository the standard library's
``platform`` module is already imported when this runs, so the project's package is
loaded first (:func:`stroke_cli.use_project_platform`). Nothing here is unpickled.
"""

from stroke_cli import use_project_platform

use_project_platform()

# After the line above: from another folder, ``platform`` is the standard module until then.
from platform.tracking.portable_model import set_model  # noqa: E402
from platform.trial.portable_model import LesionSegmentationModel  # noqa: E402

set_model(LesionSegmentationModel())

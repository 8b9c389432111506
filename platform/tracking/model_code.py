"""MLflow *models from code* entry of a trial's segmentation model: run by MLflow, not imported.

MLflow stores this file with every trial model and executes it in
``mlflow.pyfunc.load_model``; ``set_model`` hands MLflow the model object, whose
``load_context`` then reads the weights and config stored beside it
(:mod:`platform.tracking.model_flavor`). Outside this repository the standard library's
``platform`` module is already imported when this runs, so the project's package is
loaded first (:func:`stroke_cli.use_project_platform`). Nothing here is unpickled.
"""

from mlflow.models import set_model

from stroke_cli import use_project_platform

use_project_platform()

from platform.tracking.model_flavor import LesionSegmentationModel  # noqa: E402 (after the line above)

set_model(LesionSegmentationModel())

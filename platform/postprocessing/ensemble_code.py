"""MLflow *models from code* entry of a fold-ensemble model: run by MLflow, not imported.

MLflow stores this file with every ``<variant>-ensemble`` model and executes it in
``mlflow.pyfunc.load_model``. ``set_model`` hands MLflow the model object, whose
``load_context`` then loads the member fold models that ``ensemble.json`` names
(:mod:`platform.postprocessing.ensemble_model`). Outside this repository, the standard
library's ``platform`` module is already imported when this runs, so the project's
package is loaded first (:func:`stroke_cli.use_project_platform`), as in
:mod:`platform.trial.model_code`.
"""

from stroke_cli import use_project_platform

use_project_platform()

# After the line above: from another folder, ``platform`` is the standard module until then.
from platform.postprocessing.ensemble_model import FoldEnsembleModel  # noqa: E402
from platform.tracking.ensemble_model import set_model  # noqa: E402

set_model(FoldEnsembleModel())

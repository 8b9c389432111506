"""A run's ``model/`` that points at a logged model: ``runs:/<run id>/model`` loads it.

Why: MLflow 3 resolves ``runs:/<run id>/<name>`` from the run's own artifacts or from the
logged model of that run whose *name* is ``<name>``. Trials name their models
``<variant>-fold<k>`` (so the Models tab tells them apart), and the evaluation run that
scored a training's model owns none. A few-kilobyte pyfunc stored as the run artifact
``model/`` bridges both: its ``load_context`` loads the ``models:/<model id>`` it names
(through the caller's tracking URI, as ``runs:/`` itself resolves) and ``predict`` hands
the volume on. No weights are copied; a moved store keeps working, since the reference
is a model id, not a path.

This file is also the *models from code* entry MLflow stores with the reference and runs
on load; it imports mlflow (and numpy, which MLflow needs) only, so it runs wherever
MLflow is installed (the referenced model then needs this project, as always). ``predict``
is typed with NumPy arrays, which MLflow takes as "no signature from type hints" (the
stored signature says it); ``Any`` made MLflow warn on every reference it saved.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

__all__ = ["REFERENCE_ARTIFACT", "ModelReference"]

REFERENCE_ARTIFACT = "reference"
"""The artifact of the reference model: ``{"model_uri": "models:/<model id>"}``."""


class ModelReference(PythonModel):
    """A pyfunc that loads the model a JSON file names and predicts with it.

    After loading, :attr:`target` is the referenced ``PyFuncModel`` and :attr:`model_uri`
    its URI; ``unwrap_python_model().target.unwrap_python_model()`` is the trial's
    portable model.
    """

    _skip_type_hint_validation = True  # the stored signature says what predict takes

    def __init__(self) -> None:
        self.model_uri = ""
        self.target: Any = None

    def load_context(self, context: PythonModelContext) -> None:
        """Load the referenced model through the current tracking URI."""
        with open(context.artifacts[REFERENCE_ARTIFACT]) as handle:
            self.model_uri = str(json.load(handle)["model_uri"])
        self.target = mlflow.pyfunc.load_model(self.model_uri)

    def predict(self, context: PythonModelContext, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> np.ndarray:
        """The referenced model's prediction for ``model_input`` (``params`` handed on)."""
        if self.target is None:
            raise RuntimeError("the model is not loaded: use mlflow.pyfunc.load_model(uri)")
        return np.asarray(self.target.predict(model_input, params=params))


set_model(ModelReference())

"""Register a variant's best fold model under a name and an alias, on request.

Why: the Models tab ranks each training's model by the Dice its evaluation linked to it
(:mod:`platform.trial.fold`); a lab that picks one for use registers it
(``models:/<name>@<alias>``, what ``stroke-predict --model`` and ``mlflow models serve``
take) without clicking through the UI::

    stroke-report quickstart --register stroke-final --variant final_hull --alias champion

The best model is the variant's fold model (``<variant>-fold<k>``) of the sweep with the
highest linked Dice; a model without a Dice never wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from platform.tracking.store import global_tracking_uri, mlflow_client, search_all
from platform.tracking.tags import EVALUATION, kind_filters

__all__ = ["Registered", "best_fold_model", "register_best_model"]


@dataclass(frozen=True)
class Registered:
    """A registered model version."""

    name: str
    version: str
    alias: str | None
    model_uri: str
    """The ``models:/<model id>`` that was registered."""
    dice: float


def best_fold_model(uri: str, parent_run_id: str, variant: str) -> tuple[str, float, str]:
    """``(models:/<model id>, its Dice, the evaluation run id)`` of ``variant``'s best fold.

    Raises:
        KeyError: the sweep has no evaluated model of ``variant`` with a Dice.
    """
    client = mlflow_client(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    best: tuple[str, float, str] | None = None
    for clause in kind_filters(EVALUATION):
        runs = search_all(client, experiment, f"{clause} and tags.`mlflow.parentRunId` = "
                          f"'{parent_run_id}' and tags.variant = '{variant}'")
        for run in runs:
            model_uri, dice = run.data.tags.get("model_uri"), run.data.metrics.get("dice")
            if model_uri and dice is not None and not math.isnan(dice):
                if best is None or dice > best[1]:
                    best = (model_uri, float(dice), run.info.run_id)
    if best is None:
        raise KeyError(f"sweep run {parent_run_id} has no evaluated model of variant "
                       f"{variant!r} with a Dice; check the variant's name")
    return best


def register_best_model(uri: str, parent_run_id: str, variant: str, name: str,
                        alias: str | None = None) -> Registered:
    """Register ``variant``'s best fold model as a new version of ``name`` (created if
    needed) and point ``alias`` at it.

    Raises:
        KeyError: see :func:`best_fold_model`.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    model_uri, dice, evaluation = best_fold_model(uri, parent_run_id, variant)
    # The registry of this store: a client's registry otherwise follows MLflow's *global*
    # tracking URI (sqlite:///<cwd>/mlflow.db when unset), not the client's.
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    model = client.get_logged_model(model_uri.removeprefix("models:/"))
    with global_tracking_uri(uri):  # MLflow resolves a models:/ source through the global
        version = client.create_model_version(  # URI (a TODO in its SQL registry store)
            name, source=model_uri, run_id=model.source_run_id, model_id=model.model_id,
            tags={"variant": variant, "evaluation_run": evaluation, "dice": f"{dice:.6g}"})
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return Registered(name=name, version=str(version.version), alias=alias,
                      model_uri=model_uri, dice=dice)

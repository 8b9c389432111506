"""Register a variant's best fold model under a name and an alias, on request.

Why: the Models tab ranks each training's model by the Dice its evaluation linked to it
(:mod:`platform.trial.fold`); a lab that picks one for use registers it
(``models:/<name>@<alias>``, what ``stroke-predict --model`` and ``mlflow models serve``
take) without clicking through the UI::

    stroke-report quickstart --register stroke-final --variant final_hull --alias champion
    stroke-report quickstart --register stroke-final --variant final_hull --ensemble

The best model is the variant's fold model (``<variant>-fold<k>``) of the sweep with the
highest linked Dice; a model without a Dice never wins. With ``--ensemble``, the
variant's fold ensemble (``<variant>-ensemble``, :mod:`.ensemble_model`) is registered
instead, with its external-test Dice where there is one, else the mean of its folds' CV
Dice, each under its own name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from platform.tracking.store import global_tracking_uri, mlflow_client, search_all
from platform.tracking.tags import ENSEMBLE, EVALUATION, PARENT_TAG, kind_filters

__all__ = ["Registered", "best_fold_model", "ensemble_model", "register_best_model"]


@dataclass(frozen=True)
class Registered:
    """A registered model version."""

    name: str
    version: str
    alias: str | None
    model_uri: str
    """The ``models:/<model id>`` that was registered."""
    dice: float
    score: str = "dice"
    """What :attr:`dice` is: a fold's ``dice``, or an ensemble's ``external_test_dice`` or
    ``cv_mean_dice``."""


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


def ensemble_model(uri: str, parent_run_id: str, variant: str) -> tuple[str, float, str, str]:
    """``(models:/<model id>, its Dice, which Dice, the ensemble run id)`` of ``variant``'s
    newest fold ensemble under the sweep run: ``external_test_dice`` where there is one,
    else ``cv_mean_dice`` (NaN if neither).

    Raises:
        KeyError: the sweep logged no ensemble of ``variant``.
    """
    # mlflow.pyfunc and torch come with the metric names: only when an ensemble is asked for.
    from platform.tracking.ensemble_model import CV_MEAN, EXTERNAL_TEST

    client = mlflow_client(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = [run for clause in kind_filters(ENSEMBLE) for run in search_all(
        client, experiment, f"{clause} and tags.`{PARENT_TAG}` = '{parent_run_id}' and "
        f"tags.variant = '{variant}' and attributes.status = 'FINISHED'")
        if run.data.tags.get("model_uri")]
    if not runs:
        raise KeyError(f"sweep run {parent_run_id} logged no ensemble model of variant "
                       f"{variant!r}; check the variant's name, or run the sweep again")
    newest = max(runs, key=lambda run: run.info.start_time or 0)
    for score in (f"{EXTERNAL_TEST}dice", f"{CV_MEAN}dice"):
        if score in newest.data.metrics:
            return (newest.data.tags["model_uri"], float(newest.data.metrics[score]), score,
                    newest.info.run_id)
    return newest.data.tags["model_uri"], math.nan, f"{CV_MEAN}dice", newest.info.run_id


def register_best_model(uri: str, parent_run_id: str, variant: str, name: str,
                        alias: str | None = None, *, ensemble: bool = False) -> Registered:
    """Register ``variant``'s best fold model (``ensemble``: its fold ensemble) as a new
    version of ``name`` (created if needed) and point ``alias`` at it.

    Raises:
        KeyError: see :func:`best_fold_model` and :func:`ensemble_model`.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if ensemble:
        model_uri, dice, score, source = ensemble_model(uri, parent_run_id, variant)
        tags = {"variant": variant, "ensemble_run": source, score: f"{dice:.6g}"}
    else:
        model_uri, dice, source = best_fold_model(uri, parent_run_id, variant)
        score, tags = "dice", {"variant": variant, "evaluation_run": source,
                               "dice": f"{dice:.6g}"}
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
            tags=tags)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return Registered(name=name, version=str(version.version), alias=alias,
                      model_uri=model_uri, dice=dice, score=score)

"""A variant's fold ensemble as one MLflow model, ``<variant>-ensemble`` in the Models tab.

Why: cross-validation leaves one model per fold (``<variant>-fold<k>``). New patients,
and an external test cohort, are predicted by all of them together: their
probabilities are averaged (:mod:`platform.postprocessing.ensemble`). Logging that
ensemble as a model of its own lets a lab rank, register and serve it like any fold
model.

What is stored is small. ``ensemble.json`` lists the members' ``models:/<model id>``
URIs, the folds they come from and the post-processing chosen for the variant. There is
no second copy of any weights: :meth:`PortableEnsembleModel.load_context` loads each
member through the current tracking URI, as a run's ``model/`` reference does
(:mod:`.model_reference`), and the store can still be moved. The code MLflow runs on
load is :data:`platform.postprocessing.ensemble_model.ENSEMBLE_CODE`. It wires in the
averaging network and the trial's segmentation, so this module never imports the
stages above it.

Its scores come from a child run of the sweep named ``<variant>/ensemble``
(``run_kind=ensemble``), and each name says where the number comes from:

- ``external_test_<score>`` (only with ``data.test_cohort``): the ensemble's own score on
  the external test cohort;
- ``cv_mean_<score>``: the mean over the member folds of each fold model's
  cross-validation score. No fold's patients were predicted by the ensemble, so this is
  *not* the ensemble's own score. It is Table 1's number for the variant, given beside
  the model so that the Models tab can rank it.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import torch
from mlflow import MlflowClient
from mlflow.models import Model, ModelSignature, set_model
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ParamSchema, ParamSpec

from platform.config.trial import TrialConfig
from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.portable_model import (
    PortableSegmentationModel,
    Segment,
    log_model_reference,
    model_signature,
    pip_requirements,
)
from platform.tracking.store import (
    global_tracking_uri,
    log_metric_batch,
    mlflow_client,
    no_progress_bar,
)
from platform.tracking.tags import ENSEMBLE, PARENT_TAG, RUN_KIND

__all__ = ["CV_MEAN", "ENSEMBLE_ARTIFACT", "EXTERNAL_TEST", "MEMBERS_TAG", "Combine",
           "PortableEnsembleModel", "PostProcess", "ensemble_signature", "log_ensemble_model",
           "set_model"]

ENSEMBLE_ARTIFACT = "ensemble"
"""The model's artifact ``ensemble.json``: ``{variant, folds, members, postprocessing}``."""
CV_MEAN = "cv_mean_"
"""Prefix of the mean of the member folds' cross-validation scores (not the ensemble's)."""
EXTERNAL_TEST = "external_test_"
"""Prefix of the ensemble's own scores on the external test cohort."""
MEMBERS_TAG = "ensemble_members"
"""On an ensemble run: the members' model URIs and the post-processing, as JSON. A sweep
that is run again with the same members reuses the run and its model."""

Combine = Callable[[Sequence[torch.nn.Module]], torch.nn.Module]
"""The one network that averages the members' probabilities (the ensemble rule)."""
PostProcess = Callable[[Mapping[str, Any], np.ndarray, Sequence[float]], np.ndarray]
"""``postprocess(chosen spec as {name, **params}, mask, spacing (z, y, x) mm) -> mask``."""


class PortableEnsembleModel(PythonModel):
    """A variant's fold models averaged into one pyfunc (see the module docstring).

    ``predict`` takes one CT volume ``(Z, Y, X)`` in HU (float32) and returns the lesion
    mask ``(Z, Y, X)`` uint8. The members share their preprocessing and tiled inference
    (checked when the ensemble was logged). The first member's config applies them, and
    its threshold cuts the mean probability. If a post-processing was chosen for the
    variant, it runs last and needs the voxel spacing: ``params={"spacing": [z, y, x]}``
    in mm. After loading, :attr:`network` is the averaging network, :attr:`config` the
    members' shared config and :attr:`members` the fold models' URIs.
    """

    _skip_type_hint_validation = True  # the stored signature says what predict takes

    def __init__(self, combine: Combine, segment: Segment, postprocess: PostProcess) -> None:
        self.combine, self.segment, self.postprocess = combine, segment, postprocess
        self.network: torch.nn.Module | None = None
        self.config: TrialConfig | None = None
        self.members: list[str] = []
        self.postprocessing: dict[str, Any] | None = None
        self.device = torch.device("cpu")

    def load_context(self, context: PythonModelContext) -> None:
        """Load every member through the current tracking URI and combine their networks."""
        document = json.loads(Path(context.artifacts[ENSEMBLE_ARTIFACT]).read_text())
        self.members = [str(uri) for uri in document["members"]]
        self.postprocessing = document.get("postprocessing")
        loaded = [mlflow.pyfunc.load_model(uri).unwrap_python_model() for uri in self.members]
        for uri, member in zip(self.members, loaded, strict=True):
            if not isinstance(member, PortableSegmentationModel) or member.network is None:
                raise ValueError(f"ensemble member {uri} is not a portable trial model")
        self.device = loaded[0].device
        self.config = loaded[0].config
        self.network = self.combine([member.network for member in loaded]).eval()

    def predict(self, context: PythonModelContext, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> np.ndarray:
        """The ensemble's lesion mask of one CT volume (see the class docstring)."""
        if self.network is None or self.config is None:
            raise RuntimeError("the model is not loaded: use mlflow.pyfunc.load_model(uri)")
        mask: np.ndarray = self.segment(self.network, self.config, np.asarray(model_input),
                                        device=self.device)
        if self.postprocessing is None:
            return mask
        spacing = [float(s) for s in (params or {}).get("spacing") or ()]
        if len(spacing) != 3:
            raise ValueError(f"this ensemble applies the post-processing "
                             f"{self.postprocessing['name']!r}, which needs the voxel size: "
                             "predict(volume, params={'spacing': [z, y, x]}) in mm")
        return self.postprocess(self.postprocessing, mask, spacing)


def ensemble_signature() -> ModelSignature:
    """A trial model's signature plus ``spacing`` (mm, ``(z, y, x)``; empty by default),
    which only a chosen post-processing reads."""
    volume = model_signature()
    return ModelSignature(inputs=volume.inputs, outputs=volume.outputs,
                          params=ParamSchema([ParamSpec("spacing", "double", [], (-1,))]))


def _reused(client: MlflowClient, experiment: str, parent_run_id: str, variant: str,
            members: str) -> str | None:
    """The model URI of a finished ensemble run of ``variant`` with these ``members``."""
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and "
        f"tags.{RUN_KIND} = '{ENSEMBLE}' and tags.variant = '{variant}' and "
        "attributes.status = 'FINISHED'")
    for run in runs:
        if run.data.tags.get(MEMBERS_TAG) == members and run.data.tags.get("model_uri"):
            return str(run.data.tags["model_uri"])
    return None


def log_ensemble_model(uri: str, parent_run_id: str, *, variant: str,
                       members: Mapping[int, str], postprocessing: Mapping[str, Any] | None,
                       metrics: Mapping[str, float], code: Path) -> str:
    """Log ``variant``'s fold ensemble as the model ``<variant>-ensemble``; return its URI.

    Args:
        members: ``{fold: models:/<model id>}`` of the member fold models.
        postprocessing: the chosen post-processing (``{name, **params}``) or None.
        metrics: the scores linked to the model, named by where they come from (see
            the module docstring).
        code: the models-from-code file that wires the ensemble (its stage's).

    A finished ensemble run of the same members under this sweep run is reused: its
    model URI is returned, and nothing new is logged.
    """
    check_no_identifiers(metrics, what="ensemble metrics")
    client = mlflow_client(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    folds = sorted(members)
    document = {"variant": variant, "folds": folds, "members": [members[f] for f in folds],
                "postprocessing": None if postprocessing is None else dict(postprocessing)}
    tag = json.dumps({"members": document["members"],
                      "postprocessing": document["postprocessing"]}, sort_keys=True)
    reused = _reused(client, experiment, parent_run_id, variant, tag)
    if reused:
        return reused
    run = client.create_run(experiment, run_name=f"{variant}/ensemble", tags={
        PARENT_TAG: parent_run_id, RUN_KIND: ENSEMBLE, "variant": variant,
        "folds": ",".join(map(str, folds)), MEMBERS_TAG: tag})
    try:
        model_uri = _log_model(client, uri, run.info.run_id, experiment, name=f"{variant}-ensemble",
                               document=document, code=code, metrics=metrics)
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id, "FINISHED")
    return model_uri


def _log_model(client: MlflowClient, uri: str, run_id: str, experiment: str, *, name: str,
               document: Mapping[str, Any], code: Path, metrics: Mapping[str, float]) -> str:
    """The logged model ``name`` of run ``run_id``, its reference ``model/`` and scores."""
    logged = client.create_logged_model(experiment, name=name, source_run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="ensemble-model-") as tmp:
        file = Path(tmp) / "ensemble.json"
        file.write_text(json.dumps(document, indent=2))
        with warnings.catch_warnings(), global_tracking_uri(uri), no_progress_bar():
            # An input example would be a whole CT volume in JSON; the signature says it.
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info = Model.log(
                artifact_path=None, name=name, flavor=mlflow.pyfunc, run_id=run_id,
                model_id=logged.model_id, python_model=str(code),
                artifacts={ENSEMBLE_ARTIFACT: str(file)}, signature=ensemble_signature(),
                pip_requirements=pip_requirements())
            model_uri = str(info.model_uri)
            # runs:/<run id>/model loads it, spacing included
            log_model_reference(client, run_id, model_uri, signature=ensemble_signature())
    log_metric_batch(client, run_id, metrics, step=0, model_id=logged.model_id)
    client.set_tag(run_id, "model_uri", model_uri)
    return model_uri

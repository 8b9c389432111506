"""A variant's fold ensemble logged as the MLflow model ``<variant>-ensemble``, with its scores.

:class:`platform.tracking.ensemble_model.PortableEnsembleModel` knows MLflow and nothing
of the stages above it. :class:`FoldEnsembleModel` gives it the ensemble rule
(:class:`~platform.postprocessing.ensemble.EnsembleNetwork`: the mean of the members'
probabilities), the trial's segmentation (preprocessing, tiled inference, threshold:
:func:`platform.inference.segment.segment_volume`) and the post-processing rules. So a
loaded ensemble predicts the mask that ``python -m platform.predict --variant`` writes
(given the spacing where a post-processing was chosen). :data:`ENSEMBLE_CODE` is the
entry file MLflow stores with the model and runs on load.

:func:`log_variant_ensemble` is the sweep's call once every fold has run
(:func:`platform.postprocessing.external_test.after_cross_validation`). The scores it
links to the model say where they come from (:mod:`platform.tracking.ensemble_model`):
``external_test_<score>`` is the ensemble's own score on ``data.test_cohort``;
``cv_mean_<score>`` is the mean of the member folds' cross-validation scores, which
is not the ensemble's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from platform.evaluation.metrics import MODEL_SCORES
from platform.inference.segment import segment_volume
from platform.postprocessing.choice import PostprocessingChoice
from platform.postprocessing.ensemble import EnsembleNetwork, check_members, variant_members
from platform.postprocessing.rules import apply_postprocessing, postprocessing_spec
from platform.tracking import TrialResult
from platform.tracking.ensemble_model import (
    CV_MEAN,
    EXTERNAL_TEST,
    PortableEnsembleModel,
    log_ensemble_model,
)

__all__ = ["ENSEMBLE_CODE", "FoldEnsembleModel", "ensemble_scores", "log_variant_ensemble"]

ENSEMBLE_CODE = Path(__file__).with_name("ensemble_code.py")
"""The models-from-code file MLflow stores with every ensemble model and runs on load."""


def _postprocess(chosen: Mapping[str, Any], mask: np.ndarray,
                 spacing: Sequence[float]) -> np.ndarray:
    return apply_postprocessing(postprocessing_spec(chosen), mask, spacing)


class FoldEnsembleModel(PortableEnsembleModel):
    """A variant's fold ensemble as a pyfunc: the mean of the members' probabilities,
    segmented as the trial's evaluation does (see :class:`PortableEnsembleModel`)."""

    def __init__(self) -> None:
        super().__init__(combine=EnsembleNetwork, segment=segment_volume,
                         postprocess=_postprocess)


def ensemble_scores(members: Sequence[TrialResult],
                    external: Mapping[str, float] | None = None) -> dict[str, float]:
    """The scores linked to an ensemble model, named by where they come from.

    Args:
        members: the member folds' evaluation runs. ``cv_mean_<score>`` is the mean of
            their fold means. A score missing or NaN in any member is left out.
        external: the ensemble's means over the external test patients, if scored.
    """
    scores = {}
    for name in MODEL_SCORES:
        values = [r.metrics.get(name, math.nan) for r in members]
        if values and not any(math.isnan(v) for v in values):
            scores[f"{CV_MEAN}{name}"] = sum(values) / len(values)
        if external is not None and not math.isnan(external.get(name, math.nan)):
            scores[f"{EXTERNAL_TEST}{name}"] = float(external[name])
    return scores


def log_variant_ensemble(uri: str, parent_run_id: str, results: Sequence[TrialResult],
                         variant: str, *, choice: PostprocessingChoice | None = None,
                         external: Mapping[str, float] | None = None) -> str:
    """Log ``variant``'s finished fold models as the model ``<variant>-ensemble``.

    Args:
        results: the sweep's evaluation runs (``fetch_trial_results``).
        choice: the post-processing chosen for the variant, applied by the model.
        external: the ensemble's external-test means, if there is an external test.

    Returns:
        The model's ``models:/<model id>`` URI.

    Raises:
        KeyError: no finished trial of ``variant``, or a member model that cannot be
            loaded.
        ValueError: members with different preprocessing or inference settings.
    """
    members = variant_members(results, variant)
    check_members(variant, members)  # refuse what could not be combined, before logging
    chosen = None if choice is None or choice.chosen is None else choice.chosen.dump()
    uris = {fold: r.tags.get("model_uri", "") for fold, r in members.items()}
    missing = [fold for fold, model in uris.items() if not model.startswith("models:/")]
    if missing:
        raise KeyError(f"variant {variant!r}: the evaluation runs of folds {missing} name no "
                       "logged model (tag 'model_uri'); run the sweep again to log them")
    return log_ensemble_model(uri, parent_run_id, variant=variant, members=uris,
                              postprocessing=chosen,
                              metrics=ensemble_scores(list(members.values()), external),
                              code=ENSEMBLE_CODE)

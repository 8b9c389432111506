"""A search's figures from its samples' MLflow runs: optimisation history, knob importance.

Why from MLflow and not the Optuna storage: the report command reads one store, and the
Optuna study may live on another machine or have been reset. Each search sample's run
holds the knobs it drew (as flattened config params) and its objective (the latest value
of ``search.metric``); its tag ``outer_fold`` names its study (-1: scheme ``once``). The
importances are Optuna's default evaluator (PED-ANOVA in Optuna 4.x and 5.x) run on an
in-memory study rebuilt from those runs, with the distributions of the sweep's
``search.space``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from matplotlib.figure import Figure

from platform.report.figures.canvas import FigureData
from platform.report.figures.curves import (
    SearchSample,
    parameter_importance_figure,
    search_history_figure,
)
from platform.tracking import TrialResult

__all__ = ["distributions", "samples_of", "search_figures", "study_importances"]

logger = logging.getLogger(__name__)

_Direction = Literal["minimize", "maximize"]  # an Optuna study's direction


def _study(result: TrialResult) -> str:
    outer = result.tags.get("outer_fold", str(result.fold))
    return "all folds" if outer == "-1" else f"outer fold {outer}"


def _value(text: str, kind: str, args: Sequence[Any]) -> Any:
    if kind == "choice":
        return next((choice for choice in args if str(choice) == text), text)
    return int(text) if kind == "randint" else float(text)


def _space(search: Mapping[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """``{knob: (kind, args)}`` of a dumped ``SearchConfig.space`` (unset kinds are None)."""
    space = {}
    for knob, spec in search["space"].items():
        kind, args = next((k, v) for k, v in spec.items() if v is not None)
        space[knob] = (kind, list(args))
    return space


def samples_of(results: Sequence[TrialResult], search: Mapping[str, Any]) -> list[SearchSample]:
    """The finished search samples with their objective and drawn knobs, numbered per study
    in the order they started."""
    metric, space = search["metric"], _space(search)
    ordered = sorted((r for r in results if r.status == "FINISHED" and metric in r.metrics),
                     key=lambda r: (_study(r), r.start_time, r.run_id))
    counts: dict[str, int] = {}
    samples = []
    for result in ordered:
        study = _study(result)
        counts[study] = counts.get(study, 0) + 1
        params = {knob: _value(result.params[knob], *space[knob]) for knob in space
                  if knob in result.params}
        samples.append(SearchSample(study=study, order=counts[study],
                                    value=float(result.metrics[metric]), params=params))
    return samples


def distributions(search: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions of the sweep's search space."""
    import optuna

    made: dict[str, Any] = {}
    for knob, (kind, args) in _space(search).items():
        if kind == "choice":
            made[knob] = optuna.distributions.CategoricalDistribution(args)
        elif kind == "randint":
            made[knob] = optuna.distributions.IntDistribution(args[0], args[1] - 1)
        else:
            made[knob] = optuna.distributions.FloatDistribution(
                args[0], args[1], log=kind == "loguniform")
    return made


def study_importances(samples: Sequence[SearchSample], search: Mapping[str, Any]
                      ) -> dict[str, dict[str, float]]:
    """Optuna's parameter importances per study (studies with < 2 usable samples skipped)."""
    import optuna

    space = distributions(search)
    direction: _Direction = "maximize" if search.get("mode", "max") == "max" else "minimize"
    found: dict[str, dict[str, float]] = {}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" per study
    try:
        for study_name in sorted({s.study for s in samples}):
            importances = _importances(study_name, samples, space, direction)
            if importances:
                found[study_name] = importances
    finally:
        optuna.logging.set_verbosity(verbosity)
    return found


def _importances(study_name: str, samples: Sequence[SearchSample], space: Mapping[str, Any],
                 direction: _Direction) -> dict[str, float] | None:
    import optuna

    members = [s for s in samples if s.study == study_name and not math.isnan(s.value)
               and set(s.params) == set(space)]
    if len(members) < 2:
        logger.info("%s: %d usable samples, no importances", study_name, len(members))
        return None
    study = optuna.create_study(direction=direction)
    for sample in members:
        study.add_trial(optuna.trial.create_trial(
            params=dict(sample.params), distributions=dict(space), value=sample.value))
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError) as err:  # e.g. every sample drew the same knobs
        logger.info("%s: no importances (%s)", study_name, err)
        return None


def search_figures(results: Sequence[TrialResult], search: Mapping[str, Any]
                   ) -> dict[str, tuple[Figure, FigureData]]:
    """``search_history`` and (where computable) ``parameter_importance`` figures."""
    samples = samples_of(results, search)
    if not samples:
        return {}
    figures = {"search_history": search_history_figure(
        samples, metric=search["metric"], mode=search.get("mode", "max"))}
    importances = study_importances(samples, search)
    if importances:
        figures["parameter_importance"] = parameter_importance_figure(
            importances, metric=search["metric"], method="Optuna get_param_importances")
    return figures

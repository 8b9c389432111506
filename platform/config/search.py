"""The optional ``search`` section of a sweep: an Optuna space over any knob.

Why checked here: a space that names a knob that does not exist, or holds a value the
knob refuses (``model.se_ratio: {choice: [0, 8]}``), would otherwise fail inside a Ray
trial minutes after start. Every choice and both bounds of a range are applied to the
tuned variant's config (:meth:`TrialConfig.try_overrides`) at load time instead.

Each sample is scored on validation patients taken from training patients only, so a
search with ``inner_folds: 1`` needs ``eval.validation_fraction > 0``. With the default
``scheme: nested`` each outer fold is tuned on its own training patients and tested on
its own test patients. The study lives in an Optuna RDB storage; a plain file path
becomes a SQLite URL.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from data_pipeline.parts import as_tuple
from platform.config.errors import NO_VALUE, format_path
from platform.config.trial import TrialConfig
from platform.config.types import Failure, Name, Positive, Section, fail, one_of

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "LOWER_IS_BETTER",
    "PRUNERS",
    "SEARCH_METRICS",
    "SearchConfig",
]

SEARCH_METRICS = ("val_dice", "val_sensitivity", "val_specificity", "val_precision",
                  "val_hd95", "val_avd")
"""Validation metrics a trial reports after each fold (mean over the folds done so far)."""

LOWER_IS_BETTER = ("val_hd95", "val_avd")
PRUNERS = ("none", "asha", "median", "wilcoxon")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")

Bounds = Annotated[tuple[float, float], BeforeValidator(as_tuple)]
IntBounds = Annotated[tuple[int, int], BeforeValidator(as_tuple)]


class Distribution(Section):
    """One searched knob: exactly one of ``choice``, ``uniform``, ``loguniform``, ``randint``.

    ``uniform``/``loguniform`` are ``[low, high]`` floats; ``randint`` is ``[low, high]``
    with ``high`` excluded, as in ``range`` and Ray Tune's ``tune.randint``; ``choice``
    is a list of values.
    """

    choice: Annotated[tuple[Any, ...], BeforeValidator(as_tuple), Field(min_length=1)] | None = None
    """A list of values."""
    uniform: Bounds | None = None
    """``[low, high]``, uniform."""
    loguniform: Bounds | None = None
    """``[low, high]``, uniform in log space (low > 0)."""
    randint: IntBounds | None = None
    """``[low, high)`` integers."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        given = [kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise PydanticCustomError("one_distribution", "give exactly one distribution",
                                      {"allowed": DISTRIBUTIONS, "got": given})
        if self.kind != "choice":
            low, high = self.args
            if not low < high:
                fail("Distribution", [((self.kind,), "low must be below high", [low, high], {})])
            if self.kind == "loguniform" and low <= 0:
                fail("Distribution", [((self.kind,), "log-uniform bounds must be above 0",
                                       [low, high], {})])
        return self

    @property
    def kind(self) -> str:
        """Which distribution: one of :data:`DISTRIBUTIONS`."""
        return next(kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None)

    @property
    def args(self) -> tuple[Any, ...]:
        """The choices, or ``(low, high)``."""
        return getattr(self, self.kind)

    def extremes(self) -> tuple[Any, ...]:
        """Every choice, or the lowest and highest value a sample can take."""
        if self.kind == "randint":
            return (self.args[0], self.args[1] - 1)
        return self.args


def _storage_url(value: str) -> str:
    if "://" in value:
        return value
    return "sqlite:///" + os.path.abspath(os.path.expanduser(value))


class SearchConfig(Section):
    """An Optuna study run through Ray Tune over ``space`` (keys are knob paths)."""

    space: Annotated[dict[str, Distribution], Field(min_length=1)]
    """``{knob path: distribution}``, e.g. ``{"model.se_ratio": {choice: [4, 8, 16]}}``."""
    metric: Annotated[str, one_of(*SEARCH_METRICS)] = "val_dice"
    """The validation metric each sample reports."""
    mode: Annotated[str, one_of("max", "min")] = "max"
    """``max`` or ``min``; by default ``min`` for hd95 and avd."""
    num_samples: Positive = 20
    """Samples the search draws."""
    max_concurrent: Positive = 1
    """Samples run at once (TPE learns from finished samples)."""
    pruner: Annotated[str, one_of(*PRUNERS)] = "none"
    """Early stopping over folds: ``none``, ``asha``, ``median`` or ``wilcoxon``."""
    storage: Annotated[str, AfterValidator(_storage_url)] = Field(
        default="runs/optuna.db", validate_default=True)
    """Optuna RDB URL; a file path becomes ``sqlite:///<absolute path>``."""
    study_name: Name | None = None
    """Prefix of the Optuna study's name; null: the sweep's name. The study is
    ``<prefix>-<space hash>[-outer<k>][-r<n>]``: a changed space, metric or direction is
    a new study (Optuna refuses a changed choice list in an old one), ``--restart``
    takes the next ``-r<n>`` and keeps the old study."""
    seed: int = 0
    """Seed of the TPE sampler."""
    variant: Name | None = None
    """The variant tuned; the sweep fills in its last variant when this is null."""
    scheme: Annotated[str, one_of("nested", "once")] = "nested"
    """``nested`` (ours): one search per outer fold, on that fold's training patients
    only; its choice is tested on the fold's test patients, so the table is an unbiased
    outer-CV estimate. ``once``: one search over every fold's training patients, its one
    choice tested on every fold: cheaper, and optimistic (each test patient took part in
    choosing), which the table says."""
    inner_folds: Annotated[int, Field(ge=1)] = 1
    """Inside an outer fold: 1 scores a sample on one validation split of the training
    patients (``eval.validation_fraction``); k >= 2 on an inner k-fold split (the pruners
    then stop samples fold by fold)."""

    @model_validator(mode="before")
    @classmethod
    def _mode_from_metric(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("mode") is None:
            metric = data.get("metric", "val_dice")
            return {**data, "mode": "min" if metric in LOWER_IS_BETTER else "max"}
        return data

    def space_spec(self) -> dict[str, dict[str, list[Any]]]:
        """The space as plain data: ``{"model.se_ratio": {"choice": [4, 8]}, ...}``."""
        return {key: {dist.kind: list(dist.args)} for key, dist in self.space.items()}

    def space_digest(self) -> str:
        """8 hex characters naming the space, the metric and its direction: what an Optuna
        study's trials must share to be comparable."""
        text = json.dumps({"space": self.space_spec(), "metric": self.metric, "mode": self.mode},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def problems(self, variant_names: Sequence[str]) -> list[Failure]:
        """A tuned ``variant`` that the sweep does not have (locations below the sweep)."""
        if self.variant is None or self.variant in variant_names:
            return []
        return [(("search", "variant"), "no variant of that name", self.variant,
                 {"allowed": tuple(variant_names)})]

    def space_problems(self, config: TrialConfig) -> list[Failure]:
        """Every choice and bound of the space applied to ``config``, the tuned variant's."""
        problems: list[Failure] = []
        if config.baseline is not None:
            return [(("search", "variant"), "a baseline trains its own way and is not tuned "
                     "here; tune one of our variants", config.baseline.name, {})]
        if config.eval.validation_fraction == 0 and self.inner_folds == 1:
            problems.append((("search",), "a search scores trials on validation patients: set "
                             "eval.validation_fraction above 0 in the tuned variant",
                             NO_VALUE, {}))
        seen = set()
        for key, distribution in self.space.items():
            for value in distribution.extremes():
                _, found = config.try_overrides({key: value}, source="search.space")
                for problem in found:
                    message = f"{format_path(problem.path)}: {problem.problem}"
                    if (key, message) in seen:
                        continue
                    seen.add((key, message))
                    context = {"allowed": problem.allowed, "got": problem.got,
                               "allowed_label": problem.allowed_label}
                    if problem.suggestion is not None:
                        context["suggestion"] = problem.suggestion
                    problems.append((("search", "space", key), message, value, context))
        return problems

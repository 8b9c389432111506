"""What one trial is asked to do: the one typed object that crosses the Ray boundary.

Why one model: a trial runs in another process (a Ray worker, maybe on another node), so
everything it needs travels as plain data and is validated again on the worker's first
line (:meth:`TrialRequest.from_ray`). Grid trials and search samples get the same shape
of Ray config, ``{"request": ..., "sample": {knob path: value}}``; a search fills in
``sample`` from its space, a grid trial leaves it empty. The driver computes the folds
once (their patient keys travel with the request), so every trial on every node trains
on exactly the split the driver planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from platform.config.trial import TrialConfig

__all__ = ["REQUEST_KEY", "SAMPLE_KEY", "FoldKeys", "SweepContext", "TrialRequest", "TrialSpec",
           "sample_of"]

REQUEST_KEY = "request"
"""Key of the request in a Ray trial's config."""
SAMPLE_KEY = "sample"
"""Key of a search sample (``{"model.se_ratio": 8, ...}``) in a Ray trial's config."""


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FoldKeys(_Plain):
    """One patient-level fold: train on ``train``, test on ``test`` (pseudonymous keys)."""

    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]


class SweepContext(_Plain):
    """What every trial of a sweep shares, resolved once by the driver."""

    cohort: str
    """The cohort folder or manifest (the synthetic one once generated)."""
    cache_root: str
    """The preprocessing cache's folder."""
    folds: tuple[FoldKeys, ...]
    """Every fold of the split, in index order."""
    run_folds: tuple[int, ...]
    """The folds this sweep runs (``cv.run_folds``, else all)."""
    cv_seed: int
    """The split's seed; a search's validation patients are drawn with it."""
    tracking_uri: str
    experiment: str
    parent_run_id: str | None = None
    sweep_id: str
    cpus_per_trial: float
    gpus_per_trial: float | None
    """``resources.gpus_per_trial``; None: one GPU where there is one."""
    data_fingerprint: str
    """The cohort's content, for work keys (:func:`platform.sweep.keys.data_fingerprint`)."""
    code_version: str | None = None
    """The git commit in every work key (``reuse.match_code``), else None."""
    claim_stale_after_s: float = 300.0
    """``reuse.claim_stale_after_s``: a training claim without heartbeat is taken over."""
    claim_poll_s: float = 5.0
    """``reuse.claim_poll_s``: how often a trial waiting on a claim looks again."""
    invocation: str | None = None
    """The driver's invocation id (one per process start): its trials' claims are owned
    by it (:mod:`platform.tracking.claims`); None: the trial's own process."""
    sweep_lock: str | None = None
    """The sweep lock the driver holds (:mod:`platform.tracking.sweep_lock`), or None."""


class TrialSpec(_Plain):
    """One trial of a sweep: a variant's resolved config on one fold (pure, from expand)."""

    trial_id: str
    """``<variant>-f<fold>-<hash>``: equal for an unchanged trial, new for a changed one."""
    sweep_name: str
    variant: str
    fold: int
    """The test fold's index; a search sample runs every fold of the context."""
    config: TrialConfig
    training_key: str = ""
    """What the training's weights depend on (:mod:`platform.sweep.keys`); empty: unkeyed."""
    evaluation_key: str = ""
    """What the evaluation's numbers depend on, the training key among them."""


class TrialRequest(_Plain):
    """A trial with its sweep's context and, for a search, the sample to apply."""

    spec: TrialSpec
    context: SweepContext
    search_metric: str | None = None
    """Set for a search sample: the validation metric it reports after each fold."""
    search_mode: Literal["max", "min"] = "max"
    """Whether the search maximises or minimises ``search_metric`` (a sample whose
    training stopped reports the metric's worst value)."""
    inner_folds: tuple[FoldKeys, ...] = ()
    """A search sample's folds: it trains on each ``train`` and is scored on its ``test``
    (validation patients), never on the test patients of the outer fold it tunes for."""
    outer_fold: int | None = None
    """The outer fold a nested search chooses a configuration for (None: every fold)."""
    also_evaluate: tuple[TrialSpec, ...] = ()
    """Further evaluations of the same training (same ``training_key``): Table 2's
    overlaps evaluate one checkpoint each."""
    fresh_after_ms: int | None = None
    """Reuse only finished work that ended after this time (ms since the epoch); set by
    ``--restart``, ``--retrain`` and ``reuse.enabled: false``. None: any finished work."""
    sample: dict[str, Any] = Field(default_factory=dict)
    """The searched knobs (``{"model.se_ratio": 8}``), already applied to ``spec.config``."""

    def to_ray(self) -> dict[str, Any]:
        """Plain data for a Ray Tune ``param_space``."""
        return self.model_dump(mode="json", exclude={"sample"})

    @classmethod
    def from_ray(cls, config: Mapping[str, Any]) -> TrialRequest:
        """Validate a Ray trial's config; apply its search sample to the trial's config.

        Raises:
            pydantic.ValidationError, ConfigError: a config that is not a request, or a
                sample the trial's config refuses.
        """
        request = cls.model_validate(config[REQUEST_KEY])
        sample = sample_of(config)
        if not sample:
            return request
        spec = request.spec.model_copy(
            update={"config": request.spec.config.with_overrides(sample, source="search sample")})
        return request.model_copy(update={"spec": spec, "sample": sample})

    @property
    def training_id(self) -> str:
        """``<variant>-f<fold>-<training key>``: the training's name in Ray Tune and MLflow."""
        spec = self.spec
        return f"{spec.variant}-f{spec.fold}-{spec.training_key}"

    @property
    def evaluations(self) -> tuple[TrialSpec, ...]:
        """Every evaluation this request runs on its one training, ``spec`` first."""
        return (self.spec, *self.also_evaluate)

    def fold(self, index: int) -> FoldKeys:
        """The fold ``index`` of the sweep's split."""
        return self.context.folds[index]


def sample_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The search sample in a Ray trial's config (empty for a grid trial)."""
    return dict(config.get(SAMPLE_KEY) or {})

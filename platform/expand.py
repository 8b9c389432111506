"""Expand a validated sweep into its trials, with stable ids (pure: no I/O, no Ray).

Why ids are content hashes: a resumed sweep must recognise the trials it already ran,
and a trial whose configuration changed must not be mistaken for an old one. So
``trial_id = "<variant>-f<fold>-<hash>"``, where the hash covers everything that
decides the trial's result: the resolved :class:`TrialConfig`, the data (cohort path or
synthetic generator), the fold split (``cv.folds``, ``cv.seed``, stratification, a
splits file) and the fold. It leaves out what only decides where and how fast trials
run (resources, Ray, MLflow, retries, the cache folder) and the variant's description.

Example:
    >>> from platform.config import load_sweep
    >>> specs = expand(load_sweep("sweeps/tiny.yaml"))
    >>> [(s.variant, s.fold) for s in specs]
    [('plain', 0), ('final', 0)]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platform.config import SweepConfig, TrialConfig

__all__ = [
    "HASH_CHARS",
    "TrialSpec",
    "best_trials",
    "expand",
    "format_search",
    "format_trials",
    "sweep_id",
    "train_key",
]

HASH_CHARS = 10
"""Hex characters of a content hash in an id (40 bits: collisions need ~10^6 trials)."""


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a variant's resolved config trained on the training part of one fold.

    Attributes:
        trial_id: ``<variant>-f<fold>-<hash>``; equal for an unchanged trial, new for a
            changed one.
        sweep_name: The sweep it belongs to.
        variant: The variant's name.
        fold: The test fold's index in ``0 .. cv.folds - 1``.
        config: Everything the trial trains and evaluates with.
    """

    trial_id: str
    sweep_name: str
    variant: str
    fold: int
    config: TrialConfig

    def payload(self) -> dict[str, Any]:
        """JSON-able form for Ray Tune and MLflow; :meth:`from_payload` reads it back."""
        return {"trial_id": self.trial_id, "sweep_name": self.sweep_name,
                "variant": self.variant, "fold": self.fold,
                "config": self.config.model_dump(mode="json")}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TrialSpec:
        """The spec :meth:`payload` wrote, with its config validated again."""
        return cls(str(payload["trial_id"]), str(payload["sweep_name"]), str(payload["variant"]),
                   int(payload["fold"]), TrialConfig.model_validate(payload["config"]))


def _digest(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def _split_identity(sweep: SweepConfig, fold: int) -> dict[str, Any]:
    cv = sweep.cv
    return {
        "data": sweep.data.identity(),
        "cv": {"folds": cv.folds, "seed": cv.seed, "splits_file": cv.splits_file,
               "stratify_by_lesion_volume": cv.stratify_by_lesion_volume},
        "fold": fold,
    }


def expand(sweep: SweepConfig) -> list[TrialSpec]:
    """The trials of a sweep, variant by variant (in file order), then fold by fold.

    For a sweep with ``search``, the tuned variant's folds only: the configuration
    each Optuna sample starts from before its knobs are applied, fold by fold.
    """
    variants = list(sweep.variants)
    if sweep.search is not None:
        variants = [v for v in variants if v.name == sweep.tuned_variant]
    return [spec for v in variants for spec in _folds(sweep, v.name, v.config)]


def best_trials(sweep: SweepConfig, knobs: Mapping[str, Any]) -> list[TrialSpec]:
    """The test-fold trials of a search's best sample: the tuned variant with ``knobs``.

    The variant keeps its name; the changed config gives the trials new ids.

    Raises:
        ConfigError: When ``knobs`` (``{"model.se_ratio": 8, ...}``) do not validate.
    """
    return _folds(sweep, sweep.tuned_variant, sweep.with_overrides(knobs))


def _folds(sweep: SweepConfig, variant: str, config: TrialConfig) -> list[TrialSpec]:
    specs = []
    for fold in sweep.cv.folds_to_run():
        digest = _digest({"config": config.model_dump(mode="json"), **_split_identity(sweep, fold)})
        specs.append(TrialSpec(f"{variant}-f{fold}-{digest}", sweep.name, variant, fold, config))
    return specs


def train_key(sweep: SweepConfig, spec: TrialSpec) -> str:
    """A hash of what decides the trained weights of ``spec`` (its config without ``eval``).

    Trials with equal keys train the same model (``sweeps/overlap.yaml`` differs only in
    ``eval.overlap``), so a trial may reuse another's final checkpoint.
    """
    config = spec.config.model_dump(mode="json", exclude={"eval"})
    return _digest({"config": config, **_split_identity(sweep, spec.fold)})


def sweep_id(sweep: SweepConfig) -> str:
    """A stable hash of the whole resolved sweep: its name, data, folds, variants, search.

    Resources, Ray, MLflow, retries and descriptions are left out: changing where a
    sweep runs keeps its id, so it can resume elsewhere.
    """
    payload = {
        "name": sweep.name,
        "data": sweep.data.identity(),
        "cv": sweep.cv.model_dump(mode="json"),
        "variants": [[v.name, v.config.model_dump(mode="json")] for v in sweep.variants],
        "search": sweep.search.model_dump(mode="json") if sweep.search is not None else None,
    }
    return _digest(payload)


def format_trials(specs: Sequence[TrialSpec]) -> str:
    """A plain-text table of trials for ``--dry-run``: id, variant, fold and the knobs
    whose values differ between the trials (the ones the ablation is about)."""
    if not specs:
        return "(no trials)"
    flats = [spec.config.as_flat_dict() for spec in specs]
    varying = [key for key in flats[0] if any(flat[key] != flats[0][key] for flat in flats)]
    header = ["#", "trial_id", "variant", "fold", *varying]
    rows = [[str(i), s.trial_id, s.variant, str(s.fold), *(_cell(f[k]) for k in varying)]
            for i, (s, f) in enumerate(zip(specs, flats, strict=True))]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def format_search(sweep: SweepConfig) -> str:
    """The search a sweep runs, for ``--dry-run`` (empty when it has none)."""
    search = sweep.search
    if search is None:
        return ""
    space = ", ".join(f"{key} ~ {dist.kind}{list(dist.args)}" for key, dist in search.space.items())
    return (f"search: {search.num_samples} samples of variant "
            f"{sweep.tuned_variant!r} over {space}; "
            f"{search.mode} {search.metric} (validation patients, folds "
            f"{list(sweep.cv.folds_to_run())} inside each sample), pruner {search.pruner}, "
            f"study {search.study_name or sweep.name!r} in {search.storage}")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return "x".join(str(v) for v in value)
    return "null" if value is None else str(value)

"""Expand a validated sweep into its trials, with stable ids (pure: no I/O, no Ray).

A variant with ``train.seeds`` gives one trial per (fold, seed), each with that seed as
its ``train.seed``: the trial a sweep naming only that seed would have, with its id and
work keys, so a seed added later trains only the new seed.

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

from collections.abc import Mapping, Sequence
from typing import Any

from data_pipeline.content_hash import content_hash
from platform.config import SweepConfig, TrialConfig
from platform.config.request import TrialSpec
from platform.tracking.payloads import config_params

__all__ = ["HASH_CHARS", "best_trials", "each_seed", "expand", "format_design",
           "format_search", "format_trials", "search_plan_line", "sweep_id"]

HASH_CHARS = 10
"""Hex characters of a content hash in an id (40 bits: collisions need ~10^6 trials)."""


def _digest(payload: Mapping[str, Any]) -> str:
    return content_hash(payload, chars=HASH_CHARS)


def _split_identity(sweep: SweepConfig, fold: int) -> dict[str, Any]:
    cv = sweep.cv
    return {
        "data": sweep.data.identity(),
        "cv": {"folds": cv.folds, "seed": cv.seed, "splits_file": cv.splits_file,
               "stratify_by_lesion_volume": cv.stratify_by_lesion_volume},
        "fold": fold,
    }


def expand(sweep: SweepConfig, *, every_fold: bool = False) -> list[TrialSpec]:
    """The trials of a sweep, variant by variant (in file order), then fold by fold.

    Args:
        every_fold: every fold of the split, not only ``cv.run_folds``: the planner
            (:mod:`platform.sweep.plan`) reuses finished folds outside the ones to run.

    For a sweep with ``search``, the tuned variant's folds only: the configuration
    each Optuna sample starts from before its knobs are applied, fold by fold.
    """
    variants = list(sweep.variants)
    if sweep.search is not None:
        variants = [v for v in variants if v.name == sweep.tuned_variant]
    folds = range(sweep.cv.folds) if every_fold else None
    return [spec for v in variants for spec in _folds(sweep, v.name, v.config, folds)]


def best_trials(sweep: SweepConfig, knobs: Mapping[str, Any],
                folds: Sequence[int] | None = None) -> list[TrialSpec]:
    """The test-fold trials of a search's chosen sample: the tuned variant with ``knobs``,
    on ``folds`` (default: every fold to run; a nested search: the one it tuned).

    The variant keeps its name; the changed config gives the trials new ids.

    Raises:
        ConfigError: When ``knobs`` (``{"model.se_ratio": 8, ...}``) do not validate.
    """
    return _folds(sweep, sweep.tuned_variant, sweep.with_overrides(knobs), folds)


def each_seed(config: TrialConfig) -> tuple[TrialConfig, ...]:
    """``config`` once per seed of ``train.seeds`` (each with that ``train.seed`` and no
    ``seeds``: the config a sweep naming that one seed resolves to, so it keeps that
    sweep's keys and ids), or ``config`` alone when ``train.seeds`` is null."""
    if config.train.seeds is None or config.baseline is not None:  # a baseline: its own seed
        return (config,)
    return tuple(config.model_copy(update={"train": train}) for train in config.train.each_seed())


def _folds(sweep: SweepConfig, variant: str, config: TrialConfig,
           folds: Sequence[int] | None = None) -> list[TrialSpec]:
    specs = []
    for fold in sweep.cv.folds_to_run() if folds is None else folds:
        for seeded in each_seed(config):
            digest = _digest({"config": seeded.identity(),
                              **_split_identity(sweep, fold)})
            specs.append(TrialSpec(trial_id=f"{variant}-f{fold}-{digest}",
                                   sweep_name=sweep.name, variant=variant, fold=fold,
                                   config=seeded))
    return specs


def sweep_id(sweep: SweepConfig) -> str:
    """A stable hash of the whole resolved sweep: its name, data, folds, variants, search.

    Resources, Ray, MLflow, retries and descriptions are left out: changing where a
    sweep runs keeps its id, so it can resume elsewhere.
    """
    payload = {
        "name": sweep.name,
        "data": sweep.data.identity(),
        "cv": sweep.cv.model_dump(mode="json"),
        "variants": [[v.name, [c.identity() for c in each_seed(v.config)]]
                     if v.config.train.seeds is not None and len(v.config.train.seeds) > 1
                     else [v.name, each_seed(v.config)[0].identity()]
                     for v in sweep.variants],
        "search": sweep.search.model_dump(mode="json") if sweep.search is not None else None,
    }
    return _digest(payload)


def format_trials(specs: Sequence[TrialSpec]) -> str:
    """A plain-text table of trials for ``--dry-run``: id, variant, fold and the knobs
    whose values differ between the trials (the ones the ablation is about)."""
    if not specs:
        return "(no trials)"
    flats = [_display(spec.config) for spec in specs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))  # parts differ in params
    ours = [spec.config.baseline is None for spec in specs]
    varying = [key for key in keys  # a knob a baseline row lacks does not vary by that alone
               if len({flat[key] for flat in flats if key in flat}) > 1
               or any(key not in flat and mine for flat, mine in zip(flats, ours, strict=True))]
    header = ["#", "trial_id", "variant", "fold", *varying]
    rows = [[str(i), s.trial_id, s.variant, str(s.fold), *(f.get(k, "-") for k in varying)]
            for i, (s, f) in enumerate(zip(specs, flats, strict=True))]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def format_design(sweep: SweepConfig) -> str:
    """The variants an ``ablation`` section generated, for ``--dry-run`` (empty: none)."""
    ablation = sweep.ablation
    if ablation is None:
        return ""
    generated = {v["name"] for v in ablation.variants()}
    lines = [f"ablation: {ablation.design} design over {len(ablation.components)} components "
             f"({', '.join(c.name for c in ablation.components)}) -> {len(generated)} variants:"]
    for variant in sweep.variants:
        if variant.name in generated:
            versus = f" [compared with {variant.compare_to}]" if variant.compare_to else ""
            lines.append(f"  {variant.name}: {variant.description}{versus}")
    return "\n".join(lines)


def format_search(sweep: SweepConfig) -> str:
    """The search a sweep runs, for ``--dry-run`` (empty when it has none)."""
    search = sweep.search
    if search is None:
        return ""
    space = ", ".join(f"{key} ~ {dist.kind}{list(dist.args)}" for key, dist in search.space.items())
    return (f"search: {search.num_samples} samples of variant "
            f"{sweep.tuned_variant!r} over {space}; "
            f"{search.mode} {search.metric} on validation patients ({search.inner_folds} inner "
            f"fold(s) per sample), scheme {search.scheme} "
            f"({_SCHEMES[search.scheme]}), pruner {search.pruner}, "
            f"study {search.study_name or sweep.name!r} in {search.storage}")


def search_plan_line(sweep: SweepConfig) -> str:
    """The plan line of a search sweep, at most: every sample trains and validates once
    per inner fold of every search, then each choice trains and tests once per fold (what
    is reused is known only once the choices are)."""
    search = sweep.search
    assert search is not None
    outer = len(sweep.cv.folds_to_run())
    samples = search.num_samples * search.inner_folds * outer  # either scheme
    return (f"plan: {samples + outer} trainings to run, 0 reused; {samples + outer} "
            "evaluations to run, 0 reused (at most: pruned samples stop early)")


_SCHEMES = {
    "nested": "one search per outer fold, on its training patients; its choice tested on "
              "its test patients",
    "once": "one search, its choice tested on every fold: an optimistic estimate",
}


def _display(config: TrialConfig) -> dict[str, str]:
    """The config as flat ``{knob path: text}``, lists of parts as ``a+b(param=value)``."""
    flat = config_params(config.model_dump(mode="json"))
    flat["preprocessing.steps"] = "+".join(str(step) for step in config.preprocessing.steps)
    augmentations = config.sampler.params.augmentations
    flat["sampler.augmentations"] = "+".join(str(a) for a in augmentations) or "none"
    consumed = config.identity()  # a baseline row: its baseline and eval sections only
    return {key: value.lower() if value in ("True", "False") else value
            for key, value in flat.items() if key.partition(".")[0] in consumed}

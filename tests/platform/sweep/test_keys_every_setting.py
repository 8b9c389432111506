"""Issue 28: the training key changes with every training setting.

A hole found in review: the key was proven to change with 6 settings. Here every leaf of
the trial config that a training depends on (every section but ``eval``: preprocessing,
sampler and its augmentations, model, loss, optimizer, schedule, train; every part's
parameters, nested parts included) is changed to another valid value, one at a time,
and the training key must change; the evaluation key with it. A setting that cannot be
changed to a valid value fails the test, so a new setting is covered by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform.config import load_sweep
from platform.config.request import FoldKeys, SweepContext
from platform.config.trial import TrialConfig, part_at
from platform.sweep.keys import evaluation_key, training_key

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"
FOLD = FoldKeys(index=0, train=("case01", "case02"), test=("case00",))
CONTEXT = SweepContext.model_validate({
    "cohort": "/c", "cache_root": "/cache", "folds": (FOLD,), "run_folds": (0,), "cv_seed": 0,
    "tracking_uri": "sqlite:////m.db", "experiment": "e", "sweep_id": "s",
    "cpus_per_trial": 1.0, "gpus_per_trial": 0.0, "data_fingerprint": "data"})
LISTS: dict[str, list[Any]] = {
    "preprocessing.steps": [["hu_window", "minmax"]],
    "sampler.augmentations": [["flip"]],
    "sampler.patch_size": [[8, 16, 16]],
    "optimizer.betas": [[0.8, 0.999]],
}
"""Another valid value of each list setting."""
WHOLE: dict[str, tuple[str, Any]] = {
    "sampler.label_probabilities.0": ("sampler.label_probabilities", {0: 0.1, 1: 0.45, 2: 0.45}),
    "sampler.label_probabilities.1": ("sampler.label_probabilities", {0: 0.0, 1: 0.3, 2: 0.7}),
    "sampler.label_probabilities.2": ("sampler.label_probabilities", {0: 0.0, 1: 0.7, 2: 0.3}),
}
"""Settings changed through their mapping (the probabilities must add up to one)."""
SET_WHOLE: dict[str, Any] = {"baseline": "nnunet"}
"""Sections null by default, set whole (issue 24: a baseline row instead of our network)."""


def _base() -> TrialConfig:
    sweep = load_sweep(TINY, [])
    return next(v.config for v in sweep.variants if v.name == "final")


def _leaves(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, str(key)))
    else:
        yield ".".join(path), data


def _candidates(path: str, value: Any, config: TrialConfig) -> list[Any]:
    if path in LISTS:
        return LISTS[path]
    if path.endswith(".name") or path == "name":
        marker = part_at(tuple(path.split(".")[:-1]), config.model_dump(mode="json"))
        return [] if marker is None else [n for n in marker.registry().names() if n != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value * 2, value - 1]
    if isinstance(value, float):
        return [value * 2, value / 2, value + 0.1, value - 0.1]
    if value is None:
        return [2, 0.5, True]
    return []


def _settings(config: TrialConfig) -> dict[str, Any]:
    """Every training setting (divergence guard included, which ids leave out only at its
    defaults) and its value."""
    return dict(_leaves(config.model_dump(mode="json", exclude={"eval"})))


TRAINING_SETTINGS = sorted(_settings(_base()))


def test_the_walk_covers_every_training_section() -> None:
    sections = {path.split(".")[0] for path in TRAINING_SETTINGS}
    assert sections == set(TrialConfig.sections) - {"eval"}
    assert len(TRAINING_SETTINGS) > 40  # every part's parameters, not six settings


@pytest.mark.parametrize("path", TRAINING_SETTINGS)
def test_every_training_setting_changes_the_training_key(path: str) -> None:
    base = _base()
    value = _settings(base)[path]
    trained = training_key(base, FOLD, CONTEXT)
    where, candidates = (WHOLE[path][0], [WHOLE[path][1]]) if path in WHOLE else \
        (path, _candidates(path, value, base))
    if path in SET_WHOLE:  # from null to a part: no override path goes through a null
        changed = TrialConfig.model_validate({**base.model_dump(mode="json"),
                                              path: SET_WHOLE[path]})
        assert training_key(changed, FOLD, CONTEXT) != trained
        return
    if path.endswith(".name") and not candidates:
        pytest.skip(f"{path}: one part of its kind is registered; nothing to switch to")
    for candidate in candidates:
        changed, _ = base.try_overrides({where: candidate}, source="test")
        if changed is None:
            continue
        assert training_key(changed, FOLD, CONTEXT) != trained, (path, candidate)
        assert (evaluation_key(changed, FOLD, CONTEXT, training_key(changed, FOLD, CONTEXT))
                != evaluation_key(base, FOLD, CONTEXT, trained))
        return
    pytest.fail(f"{path}: no other valid value found among {candidates}")

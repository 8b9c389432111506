"""Tests of platform/sweep/expand.py: trial order, stable ids, and the dry-run table."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform.config import SweepConfig, load_sweep
from platform.config.request import TrialSpec
from platform.sweep.expand import best_trials, expand, format_search, format_trials, sweep_id

DOC: dict[str, Any] = {
    "name": "e",
    "data": {"synthetic": {"patients": 6, "shape": [32, 32, 32]}},
    "cv": {"folds": 3},
    "variants": [{"name": "plain", "model": {"residual": False, "se": False}},
                 {"name": "final"}],
}


@pytest.fixture
def sweep_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)

    def load(doc: dict[str, Any] = DOC, overrides: tuple[str, ...] = ()) -> SweepConfig:
        path = tmp_path / "e.yaml"
        path.write_text(yaml.safe_dump(doc))
        return load_sweep(path, overrides)

    return load


def test_order_is_variant_then_fold(sweep_from: Any) -> None:
    specs = expand(sweep_from())
    assert [(s.variant, s.fold) for s in specs] == [
        ("plain", 0), ("plain", 1), ("plain", 2), ("final", 0), ("final", 1), ("final", 2)]
    assert all(s.sweep_name == "e" for s in specs)
    assert specs[0].config.model.params.se is False and specs[3].config.model.params.se is True
    assert specs[0].trial_id.startswith("plain-f0-") and len(specs[0].trial_id) == 19


def test_run_folds_select_and_keep_ids(sweep_from: Any) -> None:
    every = {s.trial_id for s in expand(sweep_from())}
    some = expand(sweep_from(overrides=("cv.run_folds=[2, 0]",)))
    assert [(s.variant, s.fold) for s in some] == [("plain", 2), ("plain", 0), ("final", 2),
                                                   ("final", 0)]
    assert {s.trial_id for s in some} <= every


def test_ids_are_stable_across_loads(sweep_from: Any) -> None:
    first, again = sweep_from(), sweep_from()
    assert [s.trial_id for s in expand(first)] == [s.trial_id for s in expand(again)]
    assert sweep_id(first) == sweep_id(again)


def test_ids_ignore_where_and_how_trials_run(sweep_from: Any) -> None:
    before = sweep_from()
    after = sweep_from(overrides=("resources.max_concurrent_trials=1", "failure.max_failures=0",
                                  "tracking.experiment=other", "data.cache_root=elsewhere",
                                  "ray.object_store_mb=100"))
    assert [s.trial_id for s in expand(before)] == [s.trial_id for s in expand(after)]
    assert sweep_id(before) == sweep_id(after)


@pytest.mark.parametrize(
    ("override", "changes"),
    [
        ("train.iterations=10", {"plain", "final"}),
        ("variants.final.model.se_ratio=8", {"final"}),
        ("cv.seed=1", {"plain", "final"}),
        ("cv.folds=4", {"plain", "final"}),
        ("data.synthetic.seed=3", {"plain", "final"}),
    ],
)
def test_a_changed_config_is_a_new_trial(sweep_from: Any, override: str,
                                         changes: set[str]) -> None:
    before = {(s.variant, s.fold): s.trial_id for s in expand(sweep_from())}
    after = {(s.variant, s.fold): s.trial_id for s in expand(sweep_from(overrides=(override,)))}
    changed = {key[0] for key in before if before[key] != after.get(key)}
    assert changed == changes
    assert sweep_id(sweep_from()) != sweep_id(sweep_from(overrides=(override,)))


def test_the_variant_name_is_part_of_the_id(sweep_from: Any) -> None:
    doc = copy.deepcopy(DOC)
    doc["variants"].append({"name": "final_again"})
    specs = {(s.variant, s.fold): s.trial_id for s in expand(sweep_from(doc))}
    assert specs[("final", 0)].split("-")[-1] == specs[("final_again", 0)].split("-")[-1]
    assert specs[("final", 0)] != specs[("final_again", 0)]


def test_a_spec_survives_json(sweep_from: Any) -> None:
    spec = expand(sweep_from())[0]
    payload = spec.model_dump(mode="json")
    assert json.loads(json.dumps(payload)) == payload
    sampler = payload["config"]["sampler"]
    assert sampler["label_probabilities"] == {"0": 0.0, "1": 0.5, "2": 0.5}
    assert TrialSpec.model_validate(payload) == spec


def test_search_sweep_expands_the_tuned_variant_and_its_best_trials(sweep_from: Any) -> None:
    doc = {**DOC, "search": {"space": {"model.se_ratio": {"choice": [4, 8]}},
                             "variant": "plain"}}
    sweep = sweep_from(doc)
    specs = expand(sweep)
    assert [(s.variant, s.fold) for s in specs] == [("plain", 0), ("plain", 1), ("plain", 2)]
    best = best_trials(sweep, {"model.se_ratio": 4})
    assert [s.config.model.params.se_ratio for s in best] == [4, 4, 4]
    assert {s.trial_id for s in best}.isdisjoint(s.trial_id for s in specs)
    assert "search: 20 samples of variant 'plain' over model.se_ratio ~ choice[4, 8]" in (
        format_search(sweep))
    assert format_search(sweep_from()) == ""


def test_format_trials_shows_ids_and_the_knobs_that_vary(sweep_from: Any) -> None:
    specs = expand(sweep_from())
    lines = format_trials(specs).splitlines()
    assert lines[0].split() == ["#", "trial_id", "variant", "fold", "model.residual", "model.se"]
    assert len(lines) == 2 + len(specs)
    assert lines[2].split() == ["0", specs[0].trial_id, "plain", "0", "false", "false"]
    assert format_trials([]) == "(no trials)"


def test_a_baseline_row_shows_only_the_knobs_that_reach_it(sweep_from: Any) -> None:
    """nnU-Net consumes its baseline and eval sections only (TrialConfig.identity): the dry
    run shows '-' for its network, and our rows' shared knobs do not vary by its absence."""
    nnunet_row = {"name": "nnunet", "baseline": {"name": "nnunet"}}
    doc = {**DOC, "variants": [*DOC["variants"], nnunet_row]}
    lines = format_trials(expand(sweep_from(doc))).splitlines()
    header = lines[0].split()
    assert header[4:6] == ["model.residual", "model.se"]
    assert "baseline.name" in header and not any(k.startswith("sampler.") for k in header)
    nnunet = next(line.split() for line in lines[2:] if line.split()[2] == "nnunet")
    cells = dict(zip(header, nnunet, strict=True))
    assert cells["model.residual"] == cells["model.se"] == "-"
    assert cells["baseline.name"] == "nnunet"

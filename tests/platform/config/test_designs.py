"""platform/config/designs.py: ablation designs generate ordinary variants (issue 27)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from platform.config import ConfigError, load_sweep
from platform.config.sweep import SweepConfig

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"
COMPONENTS = [{"name": "sampler", "without": {"sampler.name": "uniform"}},
              {"name": "residual", "without": {"model.residual": False}},
              {"name": "se", "description": "squeeze-and-excitation",
               "without": {"model.se": False}}]


def _sweep(tmp_path: Path, design: str, components: list[dict[str, Any]] = COMPONENTS,
           variants: list[dict[str, Any]] | None = None) -> SweepConfig:
    doc = yaml.safe_load((SWEEPS / "tiny.yaml").read_text())
    doc["variants"] = variants or []
    doc["base"]["model"] = {**doc["base"]["model"], "name": "unet3d", "residual": True,
                            "se": True}
    doc["ablation"] = {"design": design, "components": components}
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_sweep(path)


def _state(sweep: SweepConfig) -> list[tuple[str, str | None, str, bool, bool]]:
    return [(v.name, v.compare_to, v.config.sampler.name, v.config.model.params.residual,
             v.config.model.params.se) for v in sweep.variants]


def test_leave_one_out_removes_one_component_at_a_time(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "leave_one_out")
    assert _state(sweep) == [
        ("full", None, "label", True, True), ("no_sampler", "full", "uniform", True, True),
        ("no_residual", "full", "label", False, True), ("no_se", "full", "label", True, False)]
    assert sweep.variants[3].description == ("leave_one_out: the full model without se: "
                                             "squeeze-and-excitation")
    assert sweep.comparisons() == {"no_sampler": "full", "no_residual": "full",
                                   "no_se": "full"}


def test_cumulative_switches_components_on_in_order(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "cumulative", variants=[{"name": "extra"}])
    assert _state(sweep) == [
        ("baseline", None, "uniform", False, False), ("sampler", None, "label", False, False),
        ("residual", None, "label", True, False), ("se", None, "label", True, True),
        ("extra", None, "label", True, True)]  # written variants follow the generated ones


def test_factorial_has_every_subset_compared_with_the_baseline(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "factorial")
    names = [v.name for v in sweep.variants]
    assert names == ["baseline", "sampler", "residual", "se", "sampler-residual", "sampler-se",
                     "residual-se", "full"]
    assert set(sweep.comparisons().values()) == {"baseline"} and len(sweep.comparisons()) == 7
    assert sweep.factorial_cells()["sampler-se"] == ("sampler", "se")
    assert _state(sweep)[5] == ("sampler-se", "baseline", "label", False, True)
    with pytest.raises(ConfigError, match="at most 5 components"):
        _sweep(tmp_path, "factorial", [{"name": f"c{i}", "without": {"model.se": False}}
                                       for i in range(6)])


def test_the_first_component_wins_a_knob_two_components_set(tmp_path: Path) -> None:
    steps = [{"name": "crop", "without": {"preprocessing.steps": ["hu_window", "minmax"]}},
             {"name": "standardize",
              "without": {"preprocessing.steps": ["hu_window", "remove_skull", "minmax",
                                                  "crop_to_brain"]}}]
    sweep = _sweep(tmp_path, "cumulative", steps)
    shown = {v.name: [s.name for s in v.config.preprocessing.steps] for v in sweep.variants}
    assert shown["baseline"] == ["hu_window", "minmax"]  # both off: the first listed wins
    assert shown["crop"] == ["hu_window", "remove_skull", "minmax", "crop_to_brain"]


def test_mistakes_are_refused_by_path_and_a_resolved_sweep_validates_again(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"components\[0\]\.without\[\"modl.se\"\]: not a knob"):
        _sweep(tmp_path, "leave_one_out", [{"name": "se", "without": {"modl.se": False}}])
    with pytest.raises(ConfigError, match="a component name is listed twice"):
        _sweep(tmp_path, "leave_one_out", [COMPONENTS[0], COMPONENTS[0]])
    with pytest.raises(ConfigError, match="duplicate variant name"):
        _sweep(tmp_path, "leave_one_out", variants=[{"name": "full"}])
    sweep = _sweep(tmp_path, "leave_one_out")
    assert SweepConfig.model_validate(sweep.model_dump()).variant_names == sweep.variant_names


def test_the_shipped_leave_one_out_sweep_is_the_papers_final_model_minus_one() -> None:
    sweep = load_sweep(SWEEPS / "leave_one_out.yaml")
    full = sweep.resolve_variant("full")
    assert [s.name for s in full.preprocessing.steps] == [
        "hu_window", "remove_skull", "standardize", "minmax", "crop_to_brain"]
    assert (full.sampler.name, full.loss.name) == ("label", "weighted_bce_dice")
    assert full.model.params.residual and full.model.params.se
    assert sweep.variant_names == ("full", "no_preprocessing", "no_weighted_sampler",
                                   "no_residual", "no_se", "no_standardization",
                                   "no_weighted_loss")
    assert sweep.resolve_variant("no_weighted_loss").loss.name == "bce_dice"
    assert [s.name for s in sweep.resolve_variant("no_standardization")
            .preprocessing.steps] == ["hu_window", "remove_skull", "minmax", "crop_to_brain"]

"""Every shipped sweep file validates; ablation.yaml and overlap.yaml are the paper's tables.

The expected values are those of PAPER_SPEC.md (Dobshik et al. 2023, arXiv:2301.06793,
Tables 1 and 2 and section 2.5).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from models.registry import MODELS
from platform.config import SweepConfig, load_sweep
from platform.sweep.expand import expand

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
TABLE1 = ["no_preprocessing", "preprocessing", "weighted_sampler", "residual", "se", "final"]
OURS = ["final_hull", "final_fast"]
FOUR_STEPS = ["hu_window", "remove_skull", "minmax", "crop_to_brain"]
PAPER_STEPS = ["hu_window", "remove_skull", "standardize", "minmax", "crop_to_brain"]


def load(name: str) -> SweepConfig:
    return load_sweep(SWEEPS / name)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_sweep_file_validates_and_expands(path: Path) -> None:
    sweep = load_sweep(path)
    assert sweep.name == path.stem
    assert expand(sweep)


def test_the_shipped_files_are_there() -> None:
    names = {p.name for p in SWEEPS.glob("*.yaml")}
    assert {"ablation.yaml", "overlap.yaml", "tune_se_lr.yaml", "quickstart.yaml",
            "tiny.yaml"} <= names


def _row(config: object) -> tuple[object, ...]:
    model = config.model  # type: ignore[attr-defined]
    return ([s.name for s in config.preprocessing.steps], config.sampler.name,  # type: ignore[attr-defined]
            model.params.residual, model.params.se, config.loss.name)  # type: ignore[attr-defined]


def test_ablation_is_table1_with_the_papers_hyperparameters() -> None:
    sweep = load("ablation.yaml")
    assert list(sweep.variant_names) == TABLE1 + OURS
    rows = [_row(sweep.resolve_variant(name)) for name in TABLE1 + OURS]
    assert rows == [
        (["hu_window", "minmax"], "uniform", False, False, "bce_dice"),
        (FOUR_STEPS, "uniform", False, False, "bce_dice"),
        (FOUR_STEPS, "label", False, False, "bce_dice"),
        (FOUR_STEPS, "label", True, False, "bce_dice"),
        (FOUR_STEPS, "label", True, True, "bce_dice"),
        (PAPER_STEPS, "label", True, True, "weighted_bce_dice"),
        (PAPER_STEPS, "label", True, True, "weighted_bce_dice"),
        (PAPER_STEPS, "label", True, True, "weighted_bce_dice"),
    ]
    for name in TABLE1:
        config = sweep.resolve_variant(name)
        sampler, model = config.sampler.params, config.model.params
        assert sampler.patch_size == (128, 128, 128) and sampler.patches_per_patient == 32
        if config.sampler.name == "label":
            assert sampler.label_probabilities == {0: 0.0, 1: 0.5, 2: 0.5}
        assert (model.norm.name, model.activation.name, model.upsample.name) == (
            "instance", "leaky_relu", "trilinear")
        assert model.se_ratio == 16
        optimizer, schedule = config.optimizer.params, config.schedule.params
        assert (config.optimizer.name, optimizer.lr, optimizer.weight_decay) == (
            "adam", 1.0e-4, 1.0e-5)
        assert (schedule.every, schedule.factor, schedule.min_lr) == (5000, 0.5, 1.25e-5)
        assert (config.train.iterations, config.train.batch_size) == (40_000, 2)
        assert (config.eval.inference.params.overlap, config.eval.threshold) == (0.25, 0.5)
    assert sweep.cv.folds == 5 and sweep.cv.folds_to_run() == (0, 1, 2, 3, 4)
    assert len(expand(sweep)) == 40


def test_ablation_rows_follow_the_papers_rules_and_ours_are_extra_rows() -> None:
    """Issue 16: the paper's skull rule, every patch, float32 in rows 1-6; ours after."""
    sweep = load("ablation.yaml")
    for name in TABLE1:
        config = sweep.resolve_variant(name)
        methods = {s.params.method for s in config.preprocessing.steps
                   if s.name == "remove_skull"}
        assert methods <= {"paper"} and (methods or name == "no_preprocessing")
        assert config.eval.inference.params.skip_outside_brain is False
        assert config.train.amp is False
        assert config.preprocessing.max_lesion_loss == 1.0  # accepted and logged, per case
    hull, fast = (sweep.resolve_variant(name) for name in OURS)
    assert {s.params.method for s in hull.preprocessing.steps if s.name == "remove_skull"} == {
        "hull"}
    assert hull.preprocessing.max_lesion_loss == 0.005
    assert (hull.train.amp, hull.eval.inference.params.skip_outside_brain) == (False, False)
    assert (fast.train.amp, fast.eval.inference.params.skip_outside_brain) == ("auto", True)


def test_ablation_carries_table1s_numbers() -> None:
    sweep = load("ablation.yaml")
    assert [v.name for v in sweep.variants if v.reference] == TABLE1
    dice = [v.reference_values()["dice"] for v in sweep.variants if v.reference]
    assert dice == [(0.508, 0.037), (0.511, 0.023), (0.547, 0.025), (0.574, 0.016),
                    (0.612, 0.064), (0.628, 0.033)]
    assert sweep.variants[1].reference_values()["specificity"] == (0.998, 0.00092)
    assert sweep.variants[0].reference_values()["sensitivity"] == (0.597, 0.09)


def test_overlap_is_table2() -> None:
    sweep = load("overlap.yaml")
    overlaps = [sweep.resolve_variant(name).eval.inference.params.overlap
                for name in sweep.variant_names]
    assert {sweep.resolve_variant(name).eval.inference.params.skip_outside_brain
            for name in sweep.variant_names} == {False}  # every patch, as the paper
    assert overlaps == [0.25, 0.5, 0.75]
    seconds = [v.reference_values()["seconds_per_patient"][0] for v in sweep.variants]
    assert seconds == [45.0, 90.0, 440.0]
    final = load("ablation.yaml").resolve_variant("final")
    for name in sweep.variant_names:
        assert sweep.resolve_variant(name).model_dump(exclude={"eval"}) == final.model_dump(
            exclude={"eval"})


def test_tune_se_lr_searches_the_se_ratio_and_learning_rate() -> None:
    sweep = load("tune_se_lr.yaml")
    assert sweep.search is not None
    assert sweep.search.space_spec() == {"model.se_ratio": {"choice": [4, 8, 16, 32]},
                                         "optimizer.lr": {"loguniform": [1.0e-5, 1.0e-3]}}
    assert sweep.tuned_config().eval.validation_fraction > 0


def test_quickstart_is_the_same_ablation_at_small_size() -> None:
    quick, paper = load("quickstart.yaml"), load("ablation.yaml")
    assert quick.variant_names == paper.variant_names
    for name in TABLE1 + OURS:
        small, full = quick.resolve_variant(name), paper.resolve_variant(name)
        assert _row(small) == _row(full)
        assert small.preprocessing == full.preprocessing
        assert (small.train.amp, small.eval.inference.params.skip_outside_brain) == (
            full.train.amp, full.eval.inference.params.skip_outside_brain)
    assert quick.data.is_synthetic and quick.ray.num_cpus == 2
    assert len(expand(quick)) == 16


def _documented_quickstart_overrides() -> list[str]:
    """The override line of docs/baselines.md's quickstart section, as a shell splits it."""
    text = (SWEEPS.parent / "docs" / "baselines.md").read_text()
    section = text.split("## Quickstart size on a CPU", 1)[1]
    command = section.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    words = shlex.split(command)
    return words[words.index("sweeps/baselines.yaml") + 1:]


def test_baselines_are_the_final_model_and_monai_networks_on_the_same_folds() -> None:
    """Issue 24: a MONAI row differs from the paper's final model only in the network."""
    sweep, paper = load("baselines.yaml"), load("ablation.yaml")
    final = sweep.resolve_variant("final")
    assert final == paper.resolve_variant("final")
    assert (sweep.cv, sweep.data) == (paper.cv, paper.data)
    monai = [n for n in sweep.variant_names if sweep.resolve_variant(n).model.name.startswith(
        "monai_")]
    assert len(monai) >= 2
    for name in monai:
        config = sweep.resolve_variant(name)
        assert config.model == MODELS.spec(config.model.name)  # MONAI's defaults
        assert config.model_copy(update={"model": final.model}) == final
        assert sweep.comparisons()[name] == "final"


def test_the_documented_quickstart_line_runs_baselines_at_quickstart_size() -> None:
    sweep = load_sweep(SWEEPS / "baselines.yaml", _documented_quickstart_overrides())
    quick = load("quickstart.yaml")
    assert sweep.cv.folds == 2 and sweep.ray.num_cpus == 2 and sweep.data == quick.data
    assert sweep.resolve_variant("final") == quick.resolve_variant("final").model_copy(
        update={"eval": sweep.resolve_variant("final").eval})
    for name in ("monai_segresnet", "monai_dynunet"):
        config = sweep.resolve_variant(name)
        assert config.sampler.params.patch_size == (32, 32, 32)
        assert config.model == MODELS.spec(name)
    nnunet = sweep.resolve_variant("nnunet").baseline
    assert nnunet is not None and nnunet.name == "nnunet"
    assert (nnunet.params.epochs, nnunet.params.iterations_per_epoch) == (1, 4)

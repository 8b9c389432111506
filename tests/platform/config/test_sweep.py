"""Tests of platform/config/sweep.py: every kind of sweep-file mistake gives its own message.

Each message line must name the file, the YAML path as written (``variants[2].model.se_ratio``),
the value that came in, the allowed values and a did-you-mean where one exists.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform.config import ConfigError, SweepConfig, load_sweep

MINIMAL: dict[str, Any] = {
    "name": "t",
    "data": {"synthetic": {"patients": 4, "shape": [32, 32, 32]}},
    "cv": {"folds": 2},
    "variants": [{"name": "plain", "model": {"residual": False, "se": False}},
                 {"name": "residual", "model": {"se": False}},
                 {"name": "final"}],
}


def write(tmp_path: Path, doc: Any, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def changed(**sections: Any) -> dict[str, Any]:
    """MINIMAL with top-level keys replaced."""
    doc = copy.deepcopy(MINIMAL)
    doc.update(sections)
    return doc


def only_error(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as caught:
        load_sweep(path, overrides)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_minimal_file_loads_with_paper_defaults(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, MINIMAL))
    final = sweep.resolve_variant("final")
    optimizer, schedule = final.optimizer.params, final.schedule.params
    assert optimizer.lr == 1.0e-4 and optimizer.weight_decay == 1.0e-5
    assert schedule.every == 5000 and schedule.min_lr == 1.25e-5
    assert final.train.iterations == 40_000 and final.train.batch_size == 2
    assert final.sampler.params.patch_size == (128, 128, 128)
    assert final.sampler.params.label_probabilities == {0: 0.0, 1: 0.5, 2: 0.5}
    model = final.model.params
    assert model.se and model.residual and model.se_ratio == 16
    assert final.loss.name == "weighted_bce_dice"
    assert final.eval.inference.params.overlap == 0.25
    assert [s.name for s in final.preprocessing.steps] == [
        "hu_window", "remove_skull", "standardize", "minmax", "crop_to_brain"]
    assert sweep.resolve_variant("plain").model.params.residual is False
    assert sweep.cv.folds_to_run() == (0, 1)
    assert sweep.experiment_name == "t"


def test_variant_merges_knob_by_knob_over_base(tmp_path: Path) -> None:
    doc = changed(base={"model": {"base_width": 8, "se_ratio": 4}})
    sweep = load_sweep(write(tmp_path, doc))
    plain = sweep.resolve_variant("plain").model.params
    assert (plain.base_width, plain.se_ratio, plain.se) == (8, 4, False)


def test_a_variant_naming_another_part_keeps_only_what_that_part_takes(tmp_path: Path) -> None:
    doc = changed(base={"loss": {"name": "weighted_bce_dice", "eps": 1.0e-3},
                        "sampler": {"patch_size": [32, 32, 32],
                                    "label_probabilities": {0: 0.0, 1: 0.2, 2: 0.8}}})
    doc["variants"][0].update(loss={"name": "focal", "gamma": 1.0}, sampler={"name": "uniform"})
    doc["variants"][1]["loss"] = "bce_dice"
    sweep = load_sweep(write(tmp_path, doc))
    plain, residual = sweep.resolve_variant("plain"), sweep.resolve_variant("residual")
    assert plain.loss.params.gamma == 1.0 and not hasattr(plain.loss.params, "eps")
    assert plain.sampler.name == "uniform" and plain.sampler.params.patch_size == (32, 32, 32)
    assert residual.loss.params.eps == 1.0e-3  # bce_dice takes the base's eps too


def test_a_part_inside_a_section_merges_parameter_by_parameter(tmp_path: Path) -> None:
    doc = changed(base={"eval": {"inference": {"skip_outside_brain": False, "overlap": 0.25}}})
    doc["variants"][0]["eval"] = {"inference": {"overlap": 0.5}}
    sweep = load_sweep(write(tmp_path, doc))
    inference = sweep.resolve_variant("plain").eval.inference.params
    assert (inference.overlap, inference.skip_outside_brain) == (0.5, False)


def test_relative_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = changed(data={"cohort": "my_cohort", "cache_root": "cache"})
    (tmp_path / "sub").mkdir()
    sweep = load_sweep(write(tmp_path / "sub", doc))
    assert sweep.data.cohort == tmp_path / "my_cohort"
    assert sweep.data.cache_root == tmp_path / "cache"
    assert not sweep.data.is_synthetic
    assert sweep.ray.storage_path == str(tmp_path / "runs" / "ray")


def test_dump_validates_again_to_an_equal_sweep(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, changed(search={
        "space": {"model.se_ratio": {"choice": [4, 8]}}})))
    again = SweepConfig.model_validate(sweep.model_dump())
    assert again == sweep
    assert again.search is not None and again.search.variant == "final"


def test_import_is_cheap_and_pulls_in_no_heavy_library() -> None:
    code = ("import sys, platform.config, platform.sweep.expand; "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'optuna', 'torchio', "
            "'models', 'pydicom', 'SimpleITK', 'data_pipeline.preprocess') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[3])
    assert result.stdout.strip() == "[]"


# ---- one test per kind of mistake -------------------------------------------------------

def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    doc = changed(variant=[{"name": "x"}])
    line = only_error(write(tmp_path, doc))
    assert line.startswith(f"{tmp_path / 'sweep.yaml'}: variant: unknown key 'variant'")
    assert "allowed: name, data, cv, base, variants" in line
    assert line.endswith("did you mean 'variants'?")


def test_unknown_nested_key_suggests_by_synonym(tmp_path: Path) -> None:
    doc = changed()
    doc["variants"][2]["optimizer"] = {"lerning_rate": 1.0e-3}
    line = only_error(write(tmp_path, doc))
    assert "variants[2].optimizer.lerning_rate: unknown parameter 'lerning_rate'" in line
    assert "optimizer 'adam' parameters: lr=0.0001, weight_decay=1e-05, betas" in line
    assert line.endswith("did you mean 'lr'?")


def test_unknown_key_in_a_variant_lists_the_sections(tmp_path: Path) -> None:
    doc = changed()
    doc["variants"][1]["modle"] = {"se": True}
    line = only_error(write(tmp_path, doc))
    assert "variants[1].modle: unknown key 'modle'" in line
    assert "did you mean 'model'?" in line


def test_wrong_type_names_path_and_value(tmp_path: Path) -> None:
    doc = changed(base={"train": {"iterations": "many"}})
    line = only_error(write(tmp_path, doc))
    assert "base.train.iterations: input should be a valid integer; got 'many'" in line


def test_number_written_as_yaml_text_gets_a_hint(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL) + "base:\n  optimizer: {lr: 1e-4}\n"
    line = only_error(write(tmp_path, text))
    assert "base.optimizer.lr" in line and "write 1.0e-4" in line and "got '1e-4'" in line


def test_bool_is_not_an_int(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, changed(base={"train": {"batch_size": True}})))
    assert "base.train.batch_size: input should be a valid integer; got True" in line


@pytest.mark.parametrize(
    ("section", "knob", "typo", "expected"),
    [
        ("model", "name", "unet", "unet3d"),
        ("model", "norm", "instnce", "instance"),
        ("model", "activation", "leakyrelu", "leaky_relu"),
        ("model", "upsample", "trilinaer", "trilinear"),
        ("loss", "name", "bce_dise", "bce_dice"),
        ("optimizer", "name", "adamw", "adam"),
        ("schedule", "name", "step_halve", "step_halving"),
        ("sampler", "name", "unifrom", "uniform"),
    ],
)
def test_unknown_registry_name(
    tmp_path: Path, section: str, knob: str, typo: str, expected: str
) -> None:
    doc = changed()
    doc["variants"][2][section] = {knob: typo}
    line = only_error(write(tmp_path, doc))
    where = section if knob == "name" else f"{section}.{knob}"
    assert f"variants[2].{where}: unknown " in line
    assert f"got {typo!r}" in line and "allowed: " in line and expected in line
    assert line.endswith(f"did you mean {expected!r}?")


def test_unknown_preprocessing_step_points_at_the_list_item(tmp_path: Path) -> None:
    doc = changed(base={"preprocessing": {"steps": ["hu_window", "remove_skul", "minmax"]}})
    line = only_error(write(tmp_path, doc))
    assert "base.preprocessing.steps[1]: unknown preprocessing step name" in line
    assert "got 'remove_skul'" in line and line.endswith("did you mean 'remove_skull'?")


def test_bad_preprocessing_params_and_order_are_reported(tmp_path: Path) -> None:
    doc = changed(base={"preprocessing": {"steps": [{"hu_window": {"hgh": 80}}, "minmax"]}})
    line = only_error(write(tmp_path, doc))
    assert "base.preprocessing.steps[0].hgh: unknown parameter 'hgh' (preprocessing step " \
        "'hu_window')" in line and line.endswith("did you mean 'high'?")
    doc = changed(base={"preprocessing": {"steps": ["hu_window", "crop_to_brain", "minmax"]}})
    line = only_error(write(tmp_path, doc))
    assert "base.preprocessing.steps: " in line and "'remove_skull'" in line


def test_unknown_augmentation(tmp_path: Path) -> None:
    doc = changed(base={"sampler": {"augmentations": ["flipp"]}})
    line = only_error(write(tmp_path, doc))
    assert "base.sampler.augmentations[0]: unknown augmentation name; got 'flipp'; " \
        "allowed: affine, elastic, flip, gamma" in line
    assert "did you mean" in line


@pytest.mark.parametrize(
    ("sections", "path", "fragment"),
    [
        ({"base": {"eval": {"overlap": 1.5}}}, "base.eval.inference.overlap",
         "less than 1 (inference 'sliding_window'); got 1.5"),
        ({"base": {"optimizer": {"lr": -1.0e-4}}}, "base.optimizer.lr",
         "greater than 0 (optimizer 'adam'); got -0.0001"),
        ({"base": {"sampler": {"label_probabilities": {0: 0.2, 1: 0.5, 2: 0.5}}}},
         "base.sampler.label_probabilities", "probabilities must sum to 1 (they sum to 1.2)"),
        ({"base": {"sampler": {"label_probabilities": {0: 0.5, 3: 0.5}}}},
         "base.sampler.label_probabilities", "labels are 0 (background)"),
        ({"base": {"sampler": {"patch_size": [128, 0, 128]}}}, "base.sampler.patch_size[1]",
         "greater than 0 (sampler 'label'); got 0"),
        ({"base": {"sampler": {"patch_size": [128, 128]}}}, "base.sampler.patch_size",
         "expected 3 sizes in voxels, (z, y, x) order (sampler 'label'); got [128, 128]"),
        ({"base": {"train": {"amp": "yes"}}}, "base.train.amp",
         "got 'yes'; allowed: true, false, auto"),
        ({"cv": {"folds": 1}}, "cv.folds", "greater than or equal to 2; got 1"),
        ({"cv": {"folds": 2, "run_folds": [0, 2]}}, "cv.run_folds[1]",
         "no fold 2 with folds=2; got 2; allowed: 0..1"),
        ({"name": "my sweep"}, "name", "should match pattern"),
        ({"ray": {"address": "somewhere"}}, "ray.address", "not a Ray address"),
        ({"ray": {"address": "auto", "num_cpus": 2}}, "ray.num_cpus", "local Ray only"),
        ({"resources": {"cpus_per_trial": 4}, "ray": {"num_cpus": 2}},
         "resources.cpus_per_trial", "no trial could start"),
        ({"data": {"synthetic": {"patients": 3}}, "cv": {"folds": 5}},
         "data.synthetic.patients", "fewer patients than cv.folds=5"),
        ({"failure": {"max_failures": -1}}, "failure.max_failures", "greater than or equal to 0"),
        ({"data": {"synthetic": {"shape": [16, 64, 64]}}}, "data.synthetic.shape[0]",
         "greater than or equal to 32; got 16"),
    ],
)
def test_bad_value(tmp_path: Path, sections: dict[str, Any], path: str, fragment: str) -> None:
    line = only_error(write(tmp_path, changed(**sections)))
    assert f": {path}: " in line and fragment in line, line


def test_reference_numbers_are_checked(tmp_path: Path) -> None:
    doc = changed()
    doc["variants"][0]["reference"] = {"dcie": "0.5 +- 0.1"}
    assert "unknown reference metric; got 'dcie'" in only_error(write(tmp_path, doc))
    doc["variants"][0]["reference"] = {"dice": "about half"}
    assert "variants[0].reference.dice: write a reference value as 'mean +- sd'" in only_error(
        write(tmp_path, doc))


def test_error_path_names_the_variant_index(tmp_path: Path) -> None:
    doc = changed()
    doc["variants"][2]["model"] = {"se_ratio": 0}
    line = only_error(write(tmp_path, doc))
    assert line.startswith(f"{tmp_path / 'sweep.yaml'}: variants[2].model.se_ratio: "
                           "input should be greater than or equal to 1 (model "
                           "'unet3d_residual_se'); got 0; model 'unet3d_residual_se' "
                           "parameters: norm=instance,")


def test_a_base_mistake_is_reported_once_not_per_variant(tmp_path: Path) -> None:
    only_error(write(tmp_path, changed(base={"model": {"depth": 0}})))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    doc = changed(base={"eval": {"overlap": 1.5}, "model": {"norm": "bach"}}, cv={"folds": 1})
    doc["variants"][0]["loss"] = {"eps": 0.0}
    with pytest.raises(ConfigError) as caught:
        load_sweep(write(tmp_path, doc))
    paths = [line.split(": ")[1] for line in caught.value.problems]
    assert sorted(paths) == sorted(["cv.folds", "base.model.norm", "base.eval.inference.overlap",
                                    "variants[0].loss.eps"])


def test_duplicate_variant_names(tmp_path: Path) -> None:
    doc = changed()
    doc["variants"].append({"name": "plain"})
    line = only_error(write(tmp_path, doc))
    assert "variants[3].name: duplicate variant name (also variants[0]); got 'plain'" in line


def test_empty_variants_list(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, changed(variants=[])))
    assert "variants: no variants: give at least one" in line


def test_missing_name(tmp_path: Path) -> None:
    doc = changed()
    del doc["name"]
    assert only_error(write(tmp_path, doc)).endswith(": name: missing required key")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = "name: t\nvariants:\n  - name: a\n    model: {se: true\n  - name: b\n"
    line = only_error(write(tmp_path, text))
    assert line.startswith(f"{tmp_path / 'sweep.yaml'}:5:")
    assert "YAML syntax error" in line and "started at line 4" in line


@pytest.mark.parametrize(("text", "shown"), [("- a\n- b\n", "got a list"),
                                             ("", "got an empty file"),
                                             ("just text\n", "got a str")])
def test_non_mapping_file(tmp_path: Path, text: str, shown: str) -> None:
    line = only_error(write(tmp_path, text))
    assert "a sweep file is a mapping of sections" in line and line.endswith(shown)


def test_missing_file(tmp_path: Path) -> None:
    line = only_error(tmp_path / "nope.yaml")
    assert line == (f"{tmp_path / 'nope.yaml'}: cannot read the sweep file "
                    "(No such file or directory)")


def test_resolve_unknown_variant_suggests(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match="no variant named 'fianl'.*did you mean 'final'"):
        sweep.resolve_variant("fianl")


# ---- overrides through load_sweep --------------------------------------------------------

def test_override_precedence_defaults_base_variant_command_line(tmp_path: Path) -> None:
    doc = changed(base={"train": {"iterations": 100}})
    doc["variants"][1]["train"] = {"iterations": 50}
    path = write(tmp_path, doc)
    sweep = load_sweep(path)
    assert [sweep.resolve_variant(v).train.iterations for v in sweep.variant_names] == [
        100, 50, 100]
    sweep = load_sweep(path, ["base.train.iterations=7"])
    assert [sweep.resolve_variant(v).train.iterations for v in sweep.variant_names] == [7, 50, 7]
    sweep = load_sweep(path, ["train.iterations=3"])
    assert [sweep.resolve_variant(v).train.iterations for v in sweep.variant_names] == [3, 3, 3]
    sweep = load_sweep(path, ["train.iterations=3", "variants[1].train.iterations=9",
                              "variants.final.train.iterations=4"])
    assert [sweep.resolve_variant(v).train.iterations for v in sweep.variant_names] == [3, 9, 4]
    sweep = load_sweep(path, ["variants[1].train.iterations=9", "train.iterations=3"])
    assert [sweep.resolve_variant(v).train.iterations for v in sweep.variant_names] == [3, 3, 3]


def test_override_of_file_sections(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, MINIMAL), ["cv.run_folds=[1]", "name=renamed",
                                                  "variants[0].model.se=true"])
    assert sweep.cv.folds_to_run() == (1,) and sweep.name == "renamed"
    assert sweep.resolve_variant("plain").model.params.se is True


def test_overriding_a_part_name_drops_the_old_part_s_parameters(tmp_path: Path) -> None:
    doc = changed(base={"loss": {"name": "weighted_bce_dice", "eps": 1.0e-3},
                        "model": {"norm": {"name": "group", "num_groups": 4}}})
    sweep = load_sweep(write(tmp_path, doc), ["base.loss.name=focal",
                                              "variants.final.model.norm.name=batch"])
    final = sweep.resolve_variant("final")
    assert final.loss.name == "focal" and final.model.params.norm.name == "batch"
    assert sweep.resolve_variant("plain").model.params.norm.params.num_groups == 4


def test_bad_override_path(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, MINIMAL), ("traim.iterations=200",))
    assert line.startswith("override 'traim.iterations=200': traim: unknown key 'traim'")
    assert line.endswith("did you mean 'train'?")


def test_bad_override_knob_is_reported_on_the_override(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, MINIMAL), ("train.iteratons=200",))
    assert line.startswith("override 'train.iteratons=200': train.iteratons: unknown key")
    assert line.endswith("did you mean 'iterations'?")


def test_bad_override_value(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, MINIMAL), ("cv.folds=two",))
    assert line == ("override 'cv.folds=two': cv.folds: input should be a valid integer; "
                    "got 'two'")
    line = only_error(write(tmp_path, MINIMAL), ("train.iterations=0",))
    assert line.startswith("override 'train.iterations=0': train.iterations: input should be")


def test_override_of_an_unknown_variant(tmp_path: Path) -> None:
    line = only_error(write(tmp_path, MINIMAL), ("variants.fianl.model.se=false",))
    assert "no variant named 'fianl'; allowed: plain, residual, final" in line
    assert line.endswith("did you mean 'final'?")
    line = only_error(write(tmp_path, MINIMAL), ("variants[5].model.se=false",))
    assert "no variant at index 5 (the file has 3)" in line

"""Tests of platform/config/search.py: the Optuna space is checked before Ray starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from platform.config import ConfigError, load_sweep

SWEEP: dict[str, Any] = {
    "name": "s",
    "data": {"synthetic": {"patients": 4}},
    "cv": {"folds": 2},
    "variants": [{"name": "plain", "model": {"se": False}}, {"name": "final"}],
}


def load(tmp_path: Path, search: Any) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "search": search}))
    return load_sweep(path)


UNET_PARAMETERS = ("model 'unet3d_residual_se' parameters: norm=instance, "
                   "activation=leaky_relu, residual=true, se=true, se_ratio=16, base_width=16, "
                   "depth=4, upsample=trilinear, checkpointing=false")


def errors(tmp_path: Path, search: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, search)
    return [line.split(": ", 1)[1] for line in caught.value.problems]


def test_defaults_and_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    search = load(tmp_path, {"space": {"model.se_ratio": {"choice": [4, 8]},
                                       "optimizer.lr": {"loguniform": [1.0e-5, 1.0e-3]},
                                       "model.depth": {"randint": [2, 5]}}}).search
    assert search.variant == "final" and search.metric == "val_dice" and search.mode == "max"
    assert search.pruner == "none" and search.storage == f"sqlite:///{tmp_path}/runs/optuna.db"
    assert search.space_spec() == {"model.se_ratio": {"choice": [4, 8]},
                                   "optimizer.lr": {"loguniform": [1.0e-5, 1.0e-3]},
                                   "model.depth": {"randint": [2, 5]}}


def test_mode_follows_a_lower_is_better_metric(tmp_path: Path) -> None:
    search = load(tmp_path, {"space": {"model.se": {"choice": [True, False]}},
                             "metric": "val_hd95", "storage": "postgresql://db/x"}).search
    assert search.mode == "min" and search.storage == "postgresql://db/x"


def test_with_overrides_applies_a_sample_to_the_tuned_variant(tmp_path: Path) -> None:
    sweep = load(tmp_path, {"space": {"model.se_ratio": {"choice": [4, 8]}}, "variant": "plain"})
    config = sweep.with_overrides({"model.se_ratio": 4})
    assert (config.model.params.se_ratio, config.model.params.se) == (4, False)
    with pytest.raises(ConfigError, match="search sample: model.se_ratio: input should be"):
        sweep.with_overrides({"model.se_ratio": 0})


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"space": {"model.se_ratoi": {"choice": [4, 8]}}},
         'search.space["model.se_ratoi"]: model.se_ratoi: unknown parameter \'se_ratoi\' '
         f"(model 'unet3d_residual_se'); got 4; {UNET_PARAMETERS}; did you mean 'se_ratio'?"),
        ({"space": {"model.se_ratio": {"choice": [8, 0]}}},
         'search.space["model.se_ratio"]: model.se_ratio: input should be greater than or equal '
         f"to 1 (model 'unet3d_residual_se'); got 0; {UNET_PARAMETERS}"),
        ({"space": {"model.depth": {"randint": [1, 9]}}},
         'search.space["model.depth"]: model.depth: input should be less than or equal to 7 '
         f"(model 'unet3d_residual_se'); got 8; {UNET_PARAMETERS}"),
        ({"space": {"optimizer.lr": {"logunifrom": [1.0e-5, 1.0e-3]}}},
         'search.space["optimizer.lr"].logunifrom: unknown key \'logunifrom\'; allowed: '
         "choice, uniform, loguniform, randint; did you mean 'loguniform'?"),
        ({"space": {"optimizer.lr": {"loguniform": [0.0, 1.0e-3]}}},
         'search.space["optimizer.lr"].loguniform: log-uniform bounds must be above 0; '
         "got [0.0, 0.001]"),
        ({"space": {"optimizer.lr": {"uniform": [1.0, 0.5]}}},
         'search.space["optimizer.lr"].uniform: low must be below high; got [1.0, 0.5]'),
        ({"space": {"optimizer.lr": {}}},
         'search.space["optimizer.lr"]: give exactly one distribution; got []; allowed: '
         "choice, uniform, loguniform, randint"),
        ({"space": {}}, "search.space: dictionary should have at least 1 item after "
         "validation, not 0"),
        ({"space": {"model.se": {"choice": [True]}}, "variant": "fianl"},
         "search.variant: no variant of that name; got 'fianl'; allowed: plain, final; "
         "did you mean 'final'?"),
        ({"space": {"model.se": {"choice": [True]}}, "pruner": "hyperband"},
         "search.pruner: value not allowed; got 'hyperband'; allowed: none, asha, median, "
         "wilcoxon"),
        ({"space": {"model.se": {"choice": [True]}}, "metric": "dice"},
         "search.metric: value not allowed; got 'dice'; allowed: val_dice, val_sensitivity, "
         "val_specificity, val_precision, val_hd95, val_avd; did you mean 'val_dice'?"),
    ],
)
def test_bad_search(tmp_path: Path, search: dict[str, Any], expected: str) -> None:
    assert errors(tmp_path, search) == [expected]


def test_scheme_and_inner_folds(tmp_path: Path) -> None:
    search = load(tmp_path, {"space": {"model.se": {"choice": [True]}}}).search
    assert (search.scheme, search.inner_folds) == ("nested", 1)
    assert errors(tmp_path, {"space": {"model.se": {"choice": [True]}}, "scheme": "twice"}) == [
        "search.scheme: value not allowed; got 'twice'; allowed: nested, once"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "search": {"space": {"model.se": {"choice": [1]}},
                                                        "inner_folds": 2}}))
    inner = load_sweep(path, ["eval.validation_fraction=0.0",
                              'search.space["model.se"].choice=[true]'])
    assert inner.search.inner_folds == 2  # an inner k-fold split needs no validation fraction


def test_search_needs_validation_patients(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "search": {"space": {"model.se": {"choice": [1]}}}}))
    with pytest.raises(ConfigError) as caught:
        load_sweep(path, ["eval.validation_fraction=0.0", 'search.space["model.se"].choice=[true]'])
    assert caught.value.problems == (
        f"{path}: search: a search scores trials on validation patients: set "
        "eval.validation_fraction above 0 in the tuned variant",)


def test_a_baseline_variant_cannot_be_tuned() -> None:
    """Issue 24: a search sample trains our network; a baseline's config would be ignored."""
    with pytest.raises(ConfigError, match="a baseline trains its own way and is not tuned"):
        load_sweep(Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml",
                   ["variants[1].baseline=nnunet",
                    'search={space: {"model.se_ratio": {choice: [4, 8]}}}'])

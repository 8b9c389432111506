"""platform.tracking.payloads: the config as params, per-patient rows as CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from platform.tracking.payloads import (
    PARAM_VALUE_LIMIT,
    config_params,
    parse_per_patient_csv,
    per_patient_csv,
    plain_data,
)


def test_config_is_flattened_with_dotted_keys() -> None:
    params = config_params({
        "model": {"name": "unet3d", "blocks": {"se": True, "ratio": 8}},
        "patch_size": (96, 96, 96), "steps": [{"name": "clip", "params": {"low": -40}}],
        "empty": {}, "missing": None, "path": Path("/data/cache"),
    })
    assert params == {
        "model.name": "unet3d", "model.blocks.se": "True", "model.blocks.ratio": "8",
        "patch_size": "[96, 96, 96]",
        "steps": "clip", "steps.0.clip.params.low": "-40",  # issue 23: readable parts
        "empty": "{}", "missing": "None", "path": "/data/cache",
    }


def test_long_values_are_cut_to_the_limit_and_marked() -> None:
    value = config_params({"a": "y" * 2000})["a"]
    assert len(value) == PARAM_VALUE_LIMIT
    assert value.startswith("y" * 100) and value.endswith("[truncated, see config.yaml]")
    assert config_params({"a": "y" * PARAM_VALUE_LIMIT})["a"] == "y" * PARAM_VALUE_LIMIT


def test_identifiers_in_the_config_are_refused() -> None:
    with pytest.raises(ValueError, match="PatientID"):
        config_params({"data": {"patient_id": "123"}})


def test_plain_data_is_yaml_safe() -> None:
    assert plain_data({"a": (1, 2), "p": Path("/x"), 3: {"b": None}}) == {
        "a": [1, 2], "p": "/x", "3": {"b": None}}


def test_per_patient_csv_round_trip() -> None:
    rows = [{"case": "case-002", "dice": 0.25, "hd95_mm": float("nan")},
            {"case": "case-001", "dice": 1.0, "note": "no lesion predicted"}]
    text = per_patient_csv(rows)
    assert text.splitlines()[0] == "case,dice,hd95_mm,note"
    back = parse_per_patient_csv(text)
    assert [r["case"] for r in back] == ["case-002", "case-001"]
    assert back[0]["dice"] == 0.25 and math.isnan(back[0]["hd95_mm"])
    assert math.isnan(back[1]["hd95_mm"]) and back[1]["note"] == "no lesion predicted"


def test_per_patient_rows_need_a_case_key_and_no_identifiers() -> None:
    with pytest.raises(ValueError, match="no 'case' key"):
        per_patient_csv([{"dice": 0.5}])
    with pytest.raises(ValueError, match="PatientName"):
        per_patient_csv([{"case": "case-001", "patient_name": "DOE^JANE"}])


def test_preprocessing_steps_become_readable_params() -> None:
    """Issue 23: the UI showed ``preprocessing.steps`` as one 250-character JSON cell."""
    params = config_params({"preprocessing": {"steps": [
        {"name": "hu_window", "low": 0.0, "high": 80.0},
        {"name": "remove_skull", "method": "hull", "margin": [1, 2]},
        {"name": "standardize"}]}})
    assert params == {
        "preprocessing.steps": "hu_window > remove_skull > standardize",
        "preprocessing.steps.0.hu_window.low": "0.0",
        "preprocessing.steps.0.hu_window.high": "80.0",
        "preprocessing.steps.1.remove_skull.method": "hull",
        "preprocessing.steps.1.remove_skull.margin": "[1, 2]",
    }
    assert config_params({"patch": [{"a": 1}]}) == {"patch": '[{"a": 1}]'}  # not parts

"""platform/config/variants.py: a variant merged over base, and its reference numbers."""

from __future__ import annotations

import pytest

from platform.config.variants import parse_reference, variant_with_config


def test_reference_values_parse_with_and_without_an_sd() -> None:
    assert parse_reference("0.628 +- 0.033") == (0.628, 0.033)
    assert parse_reference(" 45 ") == (45.0, None)
    with pytest.raises(ValueError, match="mean \\+- sd"):
        parse_reference("about 0.6")


def test_a_section_merges_key_by_key_and_a_switched_part_drops_foreign_params() -> None:
    base = {"train": {"iterations": 10, "seed": 0},
            "sampler": {"name": "label", "patch_size": [16, 16, 16],
                        "label_probabilities": {0: 0.5, 1: 0.5}}}
    merged = variant_with_config({"name": "v", "train": {"seed": 3},
                                  "sampler": {"name": "uniform"}}, base)
    config = merged["config"]
    assert merged["name"] == "v" and config["train"] == {"iterations": 10, "seed": 3}
    assert config["sampler"]["name"] == "uniform"
    assert config["sampler"]["patch_size"] == [16, 16, 16]
    assert "label_probabilities" not in config["sampler"]

"""Tests of platform/parameters.py: docs/parameters.md is what the code says."""

from __future__ import annotations

from platform.config.reference import render
from platform.parameters import DOC_PATH, main


def test_the_parameter_document_matches_the_code() -> None:
    assert DOC_PATH.read_text() == render(), (
        "docs/parameters.md is stale: run python -m platform.parameters > docs/parameters.md")
    assert main(["--check"]) == 0


def test_every_default_and_part_appears() -> None:
    text = render()
    for fragment in ("### `cv`", "| `stratify_by_lesion_volume` | bool | `false` |",
                     "## loss", "### `focal`", "| `gamma` | float >= 0.0 | `2.0` |",
                     "## norm", "| `num_groups` | int >= 1 | `8` |", "## inference",
                     "| `overlap` | float >= 0.0 < 1.0 | `0.25` |", "## augmentation"):
        assert fragment in text, fragment

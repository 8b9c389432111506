"""platform/config/reference.py: the reference of every sweep key and part, from the code."""

from __future__ import annotations

from platform.config.reference import KINDS, render


def test_every_default_and_part_appears() -> None:
    text = render()
    for fragment in ("### `cv`", "| `stratify_by_lesion_volume` | bool | `false` |",
                     "## loss", "### `focal`", "| `gamma` | float >= 0.0 | `2.0` |",
                     "## norm", "| `num_groups` | int >= 1 | `8` |", "## inference",
                     "| `overlap` | float >= 0.0 < 1.0 | `0.25` |", "## augmentation"):
        assert fragment in text, fragment


def test_every_kind_of_part_has_a_section() -> None:
    text = render()
    assert all(f"## {kind}" in text for kind, _ in KINDS)

"""platform/sweep/prepare.py: the cache is warmed for every variant before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform.sweep.__main__ import main
from tests.platform.sweep.harness import TINY_SWEEP


def test_prepare_only_warms_the_cache_for_every_variant_and_starts_no_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    overrides = [f"data.cache_root={cache}", 'variants[0].preprocessing.steps=[hu_window, '
                 '{minmax: {background: scaled}}]']
    assert main([str(TINY_SWEEP), "--prepare-only", *overrides]) == 0
    entries = list((cache / "preprocessed").rglob("*.npz"))
    assert len(entries) == 2 * 4  # two step lists (the override's included) x four cases
    assert (cache / "cohorts").is_dir() and not (tmp_path / "ray").exists()

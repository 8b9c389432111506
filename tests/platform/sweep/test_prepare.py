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


def test_a_baseline_variant_is_neither_preprocessed_nor_refused_our_way(tmp_path: Path) -> None:
    """Issue 24: nnU-Net preprocesses its own way; our steps and patch do not reach it."""
    cache = tmp_path / "cache"
    ours = [f"data.cache_root={cache}", "variants[0].preprocessing.steps=[hu_window, "
            "{minmax: {background: scaled}}]", "variants[0].sampler.patch_size=[64,64,64]"]
    assert main([str(TINY_SWEEP), "--prepare-only", *ours, "variants[0].baseline=nnunet"]) == 0
    assert len(list((cache / "preprocessed").rglob("*.npz"))) == 4  # the other variant's only
    assert main([str(TINY_SWEEP), "--prepare-only", *ours]) == 2  # its patch exceeds the scans
    assert len(list((cache / "preprocessed").rglob("*.npz"))) == 2 * 4

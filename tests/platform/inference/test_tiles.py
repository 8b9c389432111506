"""platform/inference/tiles.py: patch corners exactly where TorchIO's GridSampler puts them."""

from __future__ import annotations

import pytest
import torch
import torchio as tio

from platform.inference.tiles import (
    check_patch_size,
    count_patches,
    grid_starts,
    padding,
    patch_locations,
    patch_overlap_voxels,
    window,
)


@pytest.mark.parametrize(("shape", "patch", "overlap"), [((30, 26, 22), (10, 10, 8), 0.25)])
def test_patch_corners_match_torchio(shape, patch, overlap) -> None:
    subject = tio.Subject(image=tio.ScalarImage(tensor=torch.zeros(1, *shape)))
    sampler = tio.GridSampler(subject, patch, patch_overlap_voxels(patch, overlap))
    expected = sorted(tuple(int(v) for v in loc[:3]) for loc in sampler.locations)
    assert sorted(patch_locations(shape, patch, overlap)) == expected
    assert count_patches(shape, patch, overlap) == len(sampler)


@pytest.mark.parametrize(
    ("patch", "overlap", "expected"),
    [
        ((96, 96, 96), 0.25, (24, 24, 24)),
        ((15, 10, 7), 0.5, (8, 4, 4)),
        ((128, 64, 9), 0.75, (96, 48, 6)),
    ],
)
def test_patch_overlap_voxels_even(patch, overlap, expected) -> None:
    assert patch_overlap_voxels(patch, overlap) == expected


def test_grid_starts_add_a_last_patch_flush_with_the_end() -> None:
    assert grid_starts(10, 5, 2) == [0, 3, 5]
    assert grid_starts(176, 96, 24) == [0, 72, 80]
    assert grid_starts(8, 8, 4) == [0]


def test_padding_window_and_patch_size_checks() -> None:
    assert padding((6, 20, 9), (8, 8, 8)) == [(1, 1), (0, 0), (0, 0)]
    assert window((1, 2, 3), (2, 2, 2)) == (slice(1, 3), slice(2, 4), slice(3, 5))
    with pytest.raises(ValueError, match="three positive voxel counts"):
        check_patch_size((8, 0, 8))


def test_patches_without_brain_are_left_out() -> None:
    brain = torch.zeros(16, 8, 8, dtype=torch.bool).numpy()
    brain[12, 4, 4] = True  # only the second patch along z holds brain
    assert patch_locations((16, 8, 8), (8, 8, 8), 0.0, brain) == [(8, 0, 0)]
    assert count_patches((16, 8, 8), (8, 8, 8), 0.0, brain) == 1

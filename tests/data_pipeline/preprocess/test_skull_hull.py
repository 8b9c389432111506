"""Tests for data_pipeline/preprocess/skull_hull.py: the skull, its hull, the brain in a gap."""

from __future__ import annotations

import numpy as np

from data_pipeline.preprocess import skull_hull
from data_pipeline.preprocess.skull_hull import hull_brain_mask
from data_pipeline.preprocess.skull_regions import enclosed_brain_mask


def test_skull_found_on_a_coarser_grid_is_the_same(monkeypatch) -> None:
    """Scans of 2^24 voxels or more label the bone on a 2x coarser grid (memory, time);
    bone structures two voxels apart stay apart there. A hand-made head: a skull shell,
    a couch plate with more voxels but less bone in them, two voxels away, stray voxels."""
    z, y, x = np.mgrid[0:41, 0:42, 0:43]
    r = np.sqrt((z - 20) ** 2 + (y - 21) ** 2 + (x - 24) ** 2)
    hu = np.full(r.shape, 30.0)
    hu[(r >= 13) & (r < 16)] = 1200.0  # skull
    hu[:, :, :6] = 300.0  # couch plate, x = 0..5; the skull starts at x = 8
    hu[5, 5, 12] = hu[35, 36, 30] = 90.0  # stray bone-like voxels
    assert (hu == 300).sum() > (hu == 1200).sum()
    exact = skull_hull.skull_mask(hu, 80.0)
    np.testing.assert_array_equal(exact, (r >= 13) & (r < 16))
    monkeypatch.setattr(skull_hull, "_COARSE_FROM", 0)
    np.testing.assert_array_equal(skull_hull.skull_mask(hu, 80.0), exact)


def test_hull_closes_a_gap_and_keeps_tissue_bulging_through_it() -> None:
    """A hand-made head: a bone ring with a wide gap, the brain filling the gap and
    bulging one pixel past the former outer table, the scalp flap lifted over it, and a
    holder plate beside the head. The hull bridges the gap; the brain beyond the chord
    is kept, the scalp (as thick over the gap as around the intact ring) is not."""
    y, x = np.mgrid[0:80, 0:80]
    r = np.hypot(y - 40, x - 40)
    gap = x > 56
    hu = np.full((3, 80, 80), -1000.0)
    hu[:, (r < 30) | (gap & (r < 31))] = 40.0  # scalp, lifted over the gap
    hu[:, (r < 26) & ~gap] = 1200.0  # skull
    brain = (r < 22) | (gap & (r < 27))
    hu[:, brain] = 30.0
    hu[:, (x < 4) & (np.abs(y - 40) < 20)] = 400.0  # a holder plate beside the head
    mask = hull_brain_mask(hu, 80.0, -500.0)[1]
    bulge = brain & gap & (r >= 22)
    assert bulge.sum() > 100  # the brain beyond the chord is a large part of the slice
    assert (mask & bulge).sum() >= 0.9 * bulge.sum() and mask[r < 22].all()
    assert (mask & ~brain).sum() <= 0.02 * brain.sum()  # the flap's deepest pixels at most
    assert not enclosed_brain_mask(hu, 80.0).any()  # the open ring encloses nothing

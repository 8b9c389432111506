"""Tests for data_pipeline/preprocess/skull_regions.py: what bone encloses, slice to slice."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from data_pipeline.preprocess.skull_regions import enclosed_brain_mask
from data_pipeline.synthetic.phantom import HeadPhantom


def _plain_enclosed(hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """The same rule with SciPy voxel by voxel: holes per slice, largest 6-connected set."""
    enclosed = np.zeros(hu.shape, dtype=bool)
    for z in range(hu.shape[0]):
        labels, _ = ndimage.label(hu[z] < bone_hu)
        edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        enclosed[z] = (labels > 0) & ~np.isin(labels, edges)
    labels, count = ndimage.label(enclosed)
    if count == 0:
        return enclosed
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def test_region_linking_equals_voxel_connectivity(skull_phantom: HeadPhantom) -> None:
    expected = _plain_enclosed(skull_phantom.hu, 80.0)
    np.testing.assert_array_equal(enclosed_brain_mask(skull_phantom.hu, 80.0), expected)


def _ring(mask: np.ndarray, z: slice, centre: tuple[int, int], outer: int) -> None:
    """Draw a square bone ring of half-width ``outer`` (1 voxel thick) on slices ``z``."""
    cy, cx = centre
    mask[z, cy - outer : cy + outer + 1, cx - outer : cx + outer + 1] = True
    mask[z, cy - outer + 1 : cy + outer, cx - outer + 1 : cx + outer] = False


def test_many_regions_per_slice_and_links_through_one_voxel() -> None:
    """Six small pockets beside a big one (the lookup-table path), and a region linked to
    the big set through a single shared voxel, which 6-connectivity must keep."""
    bone = np.zeros((6, 40, 40), dtype=bool)
    _ring(bone, slice(0, 4), (12, 12), 9)  # big pocket, slices 0-3
    for i in range(6):
        _ring(bone, slice(0, 4), (30, 3 + 6 * i), 2)  # six small pockets, slices 0-3
    bone[4:6] = True  # slices 4-5 all bone ...
    bone[4, 5, 5] = False  # ... but one voxel of slice 4 touches the big pocket below
    hu = np.where(bone, 1000.0, 30.0)
    hu[:, 0, :] = hu[:, -1, :] = hu[:, :, 0] = hu[:, :, -1] = 30.0  # air-side border
    mask = enclosed_brain_mask(hu, 80.0)
    np.testing.assert_array_equal(mask, _plain_enclosed(hu, 80.0))
    assert mask[4, 5, 5] and mask[:4].sum() == 4 * 17 * 17
    assert not mask[:, 28:33].any()

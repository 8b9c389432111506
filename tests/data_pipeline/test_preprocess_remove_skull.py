"""Tests for data_pipeline/preprocess/remove_skull.py: top-of-head slices, skull base, linking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from data_pipeline.phantom import HeadPhantom, Tissue, make_head_phantom
from data_pipeline.preprocess.remove_skull import paper_brain_mask, robust_brain_mask

SPACING = (0.5, 0.45, 0.45)


@pytest.fixture(scope="module", params=[0, 1], ids=lambda s: f"seed{s}")
def phantom(request: pytest.FixtureRequest) -> HeadPhantom:
    return make_head_phantom((48, 48, 48), SPACING, np.random.default_rng(request.param))


def _top_slices(phantom: HeadPhantom) -> range:
    """The slices where the scalp ring outgrows the brain, up to the vertex (axis 0 = up)."""
    brain = phantom.brain.sum(axis=(1, 2))
    scalp = (phantom.tissue == Tissue.SCALP).sum(axis=(1, 2))
    top = np.flatnonzero(brain)[-1]
    first = next(z for z in range(top, -1, -1) if scalp[z] <= brain[z]) + 1
    head = np.flatnonzero((phantom.tissue == Tissue.SCALP).any(axis=(1, 2)))
    return range(first, int(head[-1]) + 1)


def test_phantom_has_top_slices_where_the_ring_outgrows_the_brain(phantom: HeadPhantom) -> None:
    top = _top_slices(phantom)
    assert len(top) >= 3
    assert phantom.brain[top.start :].sum() > 0  # some of them still hold brain


def test_robust_keeps_only_brain_on_the_top_slices(phantom: HeadPhantom) -> None:
    mask = robust_brain_mask(phantom.hu, 80.0)
    top = slice(_top_slices(phantom).start, None)
    assert not (mask[top] & ~phantom.brain[top]).any()
    assert (mask[top] & phantom.brain[top]).sum() >= 0.99 * phantom.brain[top].sum()


def test_paper_rule_keeps_the_scalp_ring_on_top_slices(phantom: HeadPhantom) -> None:
    """The trap the robust default exists for: the literal rule picks the ring."""
    mask = paper_brain_mask(phantom.hu, 80.0, 0.0)
    top = slice(_top_slices(phantom).start, None)
    scalp = phantom.tissue[top] == Tissue.SCALP
    assert (mask[top] & scalp).sum() > 0.5 * scalp.sum()


def test_robust_drops_soft_tissue_below_the_skull_base(phantom: HeadPhantom) -> None:
    mask = robust_brain_mask(phantom.hu, 80.0)
    bottom = np.flatnonzero(phantom.brain.any(axis=(1, 2)))[0]
    below = phantom.tissue[:bottom] == Tissue.SCALP
    skull = phantom.tissue[:bottom] == Tissue.SKULL
    enclosed = ndimage.binary_fill_holes(skull, np.ones((1, 3, 3)))
    assert (below & enclosed).sum() > 0  # the phantom has soft tissue inside the skull there
    assert not mask[:bottom].any()


def _plain_robust(hu: np.ndarray, bone_hu: float) -> np.ndarray:
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


def test_region_linking_equals_voxel_connectivity(phantom: HeadPhantom) -> None:
    expected = _plain_robust(phantom.hu, 80.0)
    np.testing.assert_array_equal(robust_brain_mask(phantom.hu, 80.0), expected)


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
    mask = robust_brain_mask(hu, 80.0)
    np.testing.assert_array_equal(mask, _plain_robust(hu, 80.0))
    assert mask[4, 5, 5] and mask[:4].sum() == 4 * 17 * 17
    assert not mask[:, 28:33].any()

"""Step ``remove_skull``: keep the brain, drop skull, scalp and head holder (section 2.1).

Two methods, chosen by name:

``"paper"`` is the paper's rule, slice by slice: keep the largest connected component of
the non-zero pixels (the head), zero the brightest pixels (bone), keep the largest
component again. On the top slices of a head the scalp ring outgrows the brain's cross
section, and the rule keeps the ring; below the skull base it keeps neck tissue. On the
405 x 512 x 512 benchmark phantom its mask runs 13 slices past the brain at the top and
76 below it, holds 3.8 M non-brain voxels and misses 6 % of the brain (CSF under 0 HU).
Kept for the ablation.

``"robust"`` (default) keeps what bone encloses, with one 3D decision::

    per slice:  bone = HU >= bone_hu
                regions = 4-connected components of ~bone not touching the slice border
                          (what the skull and holder ring enclose: holes of the bone mask)
    in 3D:      link regions of neighbouring slices that share a pixel (6-connectivity);
                brain = the linked set with the most voxels

The scalp always touches the outside air, so it never enters; a skull cap without brain
encloses nothing; soft tissue below the skull base is enclosed on its own slices but
separated from the brain by the base plate, so the 3D choice drops it. The enclosed
region keeps CSF and noise below 0 HU, so the brain mask has no speckle holes. Limits:
a skull ring opened by thin bone under ``bone_hu`` (partial volume) lets the slice's
brain leak to the outside and drops that slice; lower ``bone_hu`` then.

On that phantom the robust mask is the brain exactly (no non-brain voxel, none missed).

Cost: one 2D labeling per slice (connected-components-3d) inside the bone's bounding
box, and per slice pair an overlap test inside the regions' bounding box (a histogram
when a slice has several regions); the region map is uint8 and becomes the mask in
place, so the only full-size allocation is the returned mask (1 byte per voxel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cc3d
import numpy as np

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.volume import Volume

__all__ = ["RemoveSkullParams", "paper_brain_mask", "remove_skull", "robust_brain_mask"]

_MAX_REGIONS = 255  # region ids per slice fit uint8; smaller enclosed pockets are dropped
_COMPARE_LIMIT = 4  # up to this many regions, label by comparisons instead of a lookup
_PlaneBox = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)
_Found = tuple[int, _PlaneBox] | None  # regions on a slice and their bounding box


class RemoveSkullParams(StepParams):
    """Parameters of ``remove_skull``.

    Attributes:
        method: ``"robust"`` (regions enclosed by bone, chosen in 3D) or ``"paper"``
            (largest component per slice, the paper's literal rule).
        bone_hu: pixels at or above it are skull or holder: the paper's "brightest
            pixels", the top of its [0, 80] HU window.
        tissue_hu: ``"paper"`` only: pixels above it form the head (non-zero after the
            [0, 80] window).
    """

    method: Literal["robust", "paper"] = "robust"
    bone_hu: float = 80.0
    tissue_hu: float = 0.0


@register_step("remove_skull", params=RemoveSkullParams)
def remove_skull(volume: Volume, params: RemoveSkullParams) -> Volume:
    """Find the brain; voxels outside it become 0 in the image and background for sampling.

    Thresholds apply to the source HU, so the result does not depend on ``hu_window``
    (with the default window, ``HU >= 80`` is exactly the clipped top).
    """
    return volume.with_brain(_METHODS[params.method](volume.source, params))


def robust_brain_mask(hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` mask of the largest 3D set of regions enclosed by bone."""
    regions = np.zeros(hu.shape, dtype=np.uint8)
    found = [_slice_regions(hu[z], bone_hu, regions[z]) for z in range(hu.shape[0])]
    keep = _largest_linked_set(regions, found)
    for z, (lut, item) in enumerate(zip(keep, found, strict=True)):
        if item is not None and not (item[0] == 1 and lut[1]):  # else already 0/1 as wanted
            y0, y1, x0, x1 = item[1]
            part = regions[z, y0:y1, x0:x1]
            part[...] = lut[part]
    return regions.view(bool)


def _slice_regions(plane: np.ndarray, bone_hu: float, out: np.ndarray) -> _Found:
    """Enclosed regions of one slice, labelled inside the bone's bounding box only.

    Outside that box nothing is bone, so everything there is outside; a one-pixel
    margin of it keeps the box's own border connected to the outside.
    """
    bone = plane >= bone_hu
    rows, cols = np.flatnonzero(bone.any(axis=1)), np.flatnonzero(bone.any(axis=0))
    if rows.size == 0:
        return None
    y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, plane.shape[0])
    x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, plane.shape[1])
    found = _enclosed_regions(~bone[y0:y1, x0:x1], out[y0:y1, x0:x1])
    if found is None:
        return None
    count, (a, b, c, d) = found
    return count, (a + y0, b + y0, c + x0, d + x0)


def _enclosed_regions(not_bone: np.ndarray, out: np.ndarray) -> _Found:
    """Write ids 1..n of the regions of ``not_bone`` that do not touch the border to ``out``.

    Returns:
        ``(n, box)`` with the regions' bounding box, or None when bone encloses nothing.
    """
    labels, count = cc3d.connected_components(not_bone, connectivity=4, return_N=True)
    outside = np.zeros(count + 1, dtype=bool)
    outside[0] = True  # bone
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    inner = np.flatnonzero(~outside)
    if inner.size == 0:
        return None
    if inner.size > _MAX_REGIONS:  # e.g. many pores in bone: keep the largest pockets
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[inner]
        inner = np.sort(inner[np.argsort(-sizes, kind="stable")[:_MAX_REGIONS]])
    if inner.size <= _COMPARE_LIMIT:  # the usual case: a comparison beats a table lookup
        native = labels.dtype.type  # compare in the labels' own dtype, not int64
        np.equal(labels, native(inner[0]), out=out.view(bool))
        for region, label in enumerate(inner[1:], start=2):
            np.copyto(out, region, where=labels == native(label))
    else:
        lut = np.zeros(count + 1, dtype=np.uint8)
        lut[inner] = np.arange(1, inner.size + 1)
        np.take(lut, labels, out=out, mode="clip")
    rows = np.flatnonzero(out.any(axis=1))
    cols = np.flatnonzero(out.any(axis=0))
    return inner.size, (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def _largest_linked_set(
    regions: np.ndarray, found: list[_Found]
) -> list[np.ndarray]:
    """Per slice, a uint8 lookup table: 1 for the regions of the largest linked 3D set.

    Regions are linked when they share a pixel on neighbouring slices; that is
    6-connectivity of the enclosed voxels, decided at region level. Ties go to the set
    whose first voxel comes first in (z, y, x) order, as ``scipy.ndimage.label`` would.
    """
    counts = [0 if f is None else f[0] for f in found]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    sizes = np.zeros(offsets[-1], dtype=np.int64)
    parent = np.arange(sizes.size)
    for z, item in enumerate(found):
        if item is None:
            continue
        prev = found[z - 1] if z else None
        here, pairs = _slice_links(regions[z - 1], regions[z], prev, item)
        sizes[offsets[z] : offsets[z + 1]] = here
        for a, b in pairs:
            _union_sets(parent, offsets[z - 1] + int(a), offsets[z] + int(b))
    roots = np.array([_find(parent, i) for i in range(sizes.size)], dtype=np.int64)
    best = int(np.argmax(np.bincount(roots, weights=sizes, minlength=1))) if sizes.size else -1
    tables = []
    for z, count in enumerate(counts):
        lut = np.zeros(_MAX_REGIONS + 1, dtype=np.uint8)
        lut[1 : count + 1] = roots[offsets[z] : offsets[z + 1]] == best
        tables.append(lut)
    return tables


def _slice_links(
    below: np.ndarray,
    above: np.ndarray,
    prev: _Found,
    item: tuple[int, _PlaneBox],
) -> tuple[np.ndarray, np.ndarray]:
    """Sizes of the regions of ``above``, and the (below, above) region pairs that touch.

    Region ids in the pairs count from 0. Only the regions' bounding boxes are read.
    """
    count, box = item
    if prev is None:
        y0, y1, x0, x1 = box
        part = above[y0:y1, x0:x1]
        return np.bincount(part.ravel(), minlength=count + 1)[1:], np.empty((0, 2), int)
    y0, y1, x0, x1 = _union(prev[1], box)
    low, high = below[y0:y1, x0:x1], above[y0:y1, x0:x1]
    if prev[0] == 1 and count == 1:  # one region on each side: no histogram needed
        touching = np.logical_and(low, high).any()
        return np.array([np.count_nonzero(high)]), np.zeros((int(touching), 2), int)
    code = low.astype(np.uint16)
    code <<= 8
    code |= high
    hist = np.bincount(code.ravel(), minlength=1 << 16).reshape(1 << 8, 1 << 8)
    return hist.sum(axis=0)[1 : count + 1], np.argwhere(hist[1 : prev[0] + 1, 1 : count + 1])


def _union(a: _PlaneBox, b: _PlaneBox) -> _PlaneBox:
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:  # path compression
        parent[i], i = root, int(parent[i])
    return root


def _union_sets(parent: np.ndarray, a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:  # the smaller id stays root: a set is named by its first region
        parent[max(ra, rb)] = min(ra, rb)


def paper_brain_mask(hu: np.ndarray, bone_hu: float, tissue_hu: float) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` mask by the paper's rule, slice by slice (see module doc)."""
    brain = np.zeros(hu.shape, dtype=bool)
    for z in range(hu.shape[0]):
        head = _largest_component(hu[z] > tissue_hu)
        if head is not None:
            head &= hu[z] < bone_hu
            inside = _largest_component(head)
            if inside is not None:
                brain[z] = inside
    return brain


def _largest_component(mask: np.ndarray) -> np.ndarray | None:
    labels, count = cc3d.connected_components(mask, connectivity=4, return_N=True)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


_METHODS: dict[str, Callable[[np.ndarray, RemoveSkullParams], np.ndarray]] = {
    "robust": lambda hu, p: robust_brain_mask(hu, p.bone_hu),
    "paper": lambda hu, p: paper_brain_mask(hu, p.bone_hu, p.tissue_hu),
}

"""Regions closed off by bone on each slice, linked through the slices: the brain's core.

Why its own module: both bone-based skull-removal methods (``"enclosed"`` and
``"hull"``, see ``remove_skull``) label, slice by slice, the parts of a slice that a wall
closes off, and keep the largest set of them that touch from slice to slice. They differ
only in the wall: the bone alone, or the bone plus the convex hull around the skull.

    per slice:  free  = pixels a method allows (e.g. not bone), inside a box
                regions = 4-connected components of free not touching the box border
    in 3D:      link regions of neighbouring slices that share a pixel (6-connectivity);
                core = the linked set with the most voxels

Cost: one 2D labeling per slice (connected-components-3d) inside the box the method
gives, and per slice pair an overlap test inside the regions' bounding box (a histogram
when a slice has several regions); the region map is uint8 and becomes the mask in
place, so the only full-size allocation is the returned mask (1 byte per voxel).
"""

from __future__ import annotations

from collections.abc import Iterable

import cc3d
import numpy as np

__all__ = ["PlaneBox", "enclosed_brain_mask", "largest_linked_regions"]

_MAX_REGIONS = 255  # region ids per slice fit uint8; smaller enclosed pockets are dropped
_COMPARE_LIMIT = 4  # up to this many regions, label by comparisons instead of a lookup
PlaneBox = tuple[int, int, int, int]
"""``(y0, y1, x0, x1)``: a half-open box on one slice."""
_Found = tuple[int, PlaneBox] | None  # regions on a slice and their bounding box


def enclosed_brain_mask(hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` mask of the largest 3D set of regions enclosed by bone.

    The ``"enclosed"`` method: a slice whose bone ring is open (a craniectomy, the skull
    base, thin vertex bone) contributes nothing, since its brain leaks to the outside.
    """
    return largest_linked_regions(hu.shape, _bone_free(hu, bone_hu))


def _bone_free(hu: np.ndarray, bone_hu: float) -> Iterable[tuple[int, PlaneBox, np.ndarray]]:
    """Per slice, the non-bone pixels inside the bone's bounding box plus a margin.

    Outside that box nothing is bone, so everything there is outside; the one-pixel
    margin keeps the box's own border connected to the outside.
    """
    for z in range(hu.shape[0]):
        bone = hu[z] >= bone_hu
        rows, cols = np.flatnonzero(bone.any(axis=1)), np.flatnonzero(bone.any(axis=0))
        if rows.size == 0:
            continue
        y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, bone.shape[0])
        x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, bone.shape[1])
        yield z, (y0, y1, x0, x1), ~bone[y0:y1, x0:x1]


def largest_linked_regions(
    shape: tuple[int, ...], planes: Iterable[tuple[int, PlaneBox, np.ndarray]]
) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` mask of the largest linked set of closed-off regions.

    Args:
        shape: ``(Z, Y, X)`` of the volume.
        planes: per slice (any subset, in increasing ``z``), ``(z, box, free)``: the
            pixels a region may hold inside ``box`` on slice ``z``. Components of
            ``free`` that touch the box border are outside and dropped.
    """
    regions = np.zeros(shape, dtype=np.uint8)
    found: list[_Found] = [None] * shape[0]
    for z, (y0, y1, x0, x1), free in planes:
        item = _enclosed_regions(free, regions[z, y0:y1, x0:x1])
        if item is not None:
            count, (a, b, c, d) = item
            found[z] = count, (a + y0, b + y0, c + x0, d + x0)
    keep = _largest_linked_set(regions, found)
    for z, (lut, item) in enumerate(zip(keep, found, strict=True)):
        if item is not None and not (item[0] == 1 and lut[1]):  # else already 0/1 as wanted
            y0, y1, x0, x1 = item[1]
            part = regions[z, y0:y1, x0:x1]
            part[...] = lut[part]
    return regions.view(bool)


def _enclosed_regions(free: np.ndarray, out: np.ndarray) -> _Found:
    """Write ids 1..n of the regions of ``free`` that do not touch the border to ``out``.

    Returns:
        ``(n, box)`` with the regions' bounding box, or None when nothing is closed off.
    """
    labels, count = cc3d.connected_components(free, connectivity=4, return_N=True)
    outside = np.zeros(count + 1, dtype=bool)
    outside[0] = True  # the wall
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


def _largest_linked_set(regions: np.ndarray, found: list[_Found]) -> list[np.ndarray]:
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
    item: tuple[int, PlaneBox],
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


def _union(a: PlaneBox, b: PlaneBox) -> PlaneBox:
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

"""The ``"hull"`` skull-removal method: bone rings closed by the skull's convex hull.

Why: keeping only what bone encloses (the ``"enclosed"`` method) drops every slice whose
bone ring is open, and open rings are common in a stroke unit's heads: a decompressive
hemicraniectomy leaves a large defect over the infarct, the skull base and foramen
magnum leave the lowest slices open, and thin vertex bone falls below the bone threshold.
Here the skull itself closes its gaps::

    skull = the 6-connected bone component with the most HU in total (not the holder or
            couch, which are lighter and never touch bone)
    per slice:  hull  = filled convex hull of the skull's pixels
                free  = hull and not bone
    in 3D:      core  = the largest set of free regions linked from slice to slice
    per slice whose core touches soft tissue outside the hull (a ring gap):
                depth = distance to the nearest air (or holder) pixel
                scalp = lower-quartile depth of the skull's outer surface on that slice
                add the soft tissue outside the hull that is at least ``scalp`` deep and
                touches the core: brain bulging through a defect, under its scalp flap

The hull bridges an open ring, so the brain under a gap stays; scalp lies outside the
hull (the outer table is the hull's edge) and never enters; soft tissue below the skull
base sits in its own hull regions, cut off from the brain by the base plate. The brain
that swells through a craniectomy lies beyond the hull's chord; the scalp flap over it
is as thin as the scalp elsewhere on the slice, so the depth rule keeps the brain and
drops the flap. Measuring the scalp on the same slice makes the rule scale-free and
follows the obliquity of the slice through the head.

Limits: a brain slice without any skull pixel (the top of the vertex when its bone is
below ``bone_hu``) is dropped; the face and neck below the skull base were only tested
on the synthetic head, whose base plate is whole. Distances are in pixels: CT pixels are
square. Figures per anatomy: ``docs/skull_removal.md``.

Cost on a 405 x 512 x 512 scan: 0.7 s for a closed skull, 1.5 s with a craniectomy
(2-core machine): the 3D labeling of the bone on a 2x coarser grid (0.1 s), per slice a
convex hull of at most two points per row, the linking of ``skull_regions``, and a
distance transform of the head's box on the slices with an open ring only (0.6 s for
the ~190 of a craniectomy). Memory: the returned mask (a byte per voxel), briefly about
as much again for the coarse labeling, and one slice's temporaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import cc3d
import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from data_pipeline.preprocess.skull_regions import PlaneBox, largest_linked_regions

__all__ = ["hull_brain_mask", "skull_mask"]

# The outer table lies as deep as the scalp is thick, or a pixel deeper: its lower quartile
# depth is the scalp's thickness on the slice. The median dropped the brain's outermost
# pixel under a flap as often as not (1 % of the brain on 64^3 heads).
_SCALP_QUANTILE = 0.25
_COARSE_FROM = 1 << 24  # voxels (a 256^3 volume): label the bone on a 2x coarser grid


def hull_brain_mask(hu: np.ndarray, bone_hu: float, air_hu: float) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` brain mask by the ``"hull"`` method (see the module doc).

    Args:
        hu: ``(Z, Y, X)`` Hounsfield units.
        bone_hu: pixels at or above it are bone (skull, holder, couch).
        air_hu: pixels at or below it are air, for the depth below the skin.
    """
    skull = _Skull(hu, bone_hu)
    hulls: dict[int, tuple[PlaneBox, np.ndarray]] = {}
    brain = largest_linked_regions(hu.shape, _hull_planes(hu, bone_hu, skull, hulls))
    for z, (box, hull) in hulls.items():
        if brain[z].any():
            bone = hu[z] >= bone_hu
            _grow_through_gap(hu[z], bone, skull.plane(z, bone), brain[z], box, hull, air_hu)
    return brain


def skull_mask(hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """Boolean ``(Z, Y, X)`` mask of the skull as the ``"hull"`` method finds it."""
    skull = _Skull(hu, bone_hu)
    return np.stack([skull.plane(z, hu[z] >= bone_hu) for z in range(hu.shape[0])])


class _Skull:
    """The 6-connected bone component with the largest summed HU, slice by slice.

    Summed HU rather than size: a couch running through every slice can outgrow the
    skull of a small head, but holder and couch plastics are far lighter than bone.
    Volumes of ``_COARSE_FROM`` voxels or more are labelled on a grid twice as coarse
    (a coarse voxel is bone when any of its eight is): the scalp keeps skull and holder
    several pixels apart, and neither the labels nor a full-size bone mask are needed.
    """

    def __init__(self, hu: np.ndarray, bone_hu: float) -> None:
        self._coarse = hu.size >= _COARSE_FROM
        grid = _halved_bone(hu, bone_hu) if self._coarse else hu >= bone_hu
        labels, count = cc3d.connected_components(
            grid, connectivity=6, return_N=True, out_dtype=np.uint32
        )
        sample = hu[::2, ::2, ::2] if self._coarse else hu  # the same shape as ``grid``
        where = np.flatnonzero(grid)  # bone is a few % of the volume: gather it once
        # a coarse voxel weighs what its first voxel holds (air counts as nothing)
        weights = np.maximum(sample.ravel()[where], 0).astype(np.float64)
        mass = np.bincount(labels.ravel()[where], weights=weights, minlength=count + 1)
        best = np.argmax(mass[1:]) + 1 if count else 0
        self._grid = labels == np.uint32(best) if count else grid

    def plane(self, z: int, bone: np.ndarray) -> np.ndarray:
        """The skull's pixels on slice ``z``, given that slice's bone pixels."""
        if not self._coarse:
            return self._grid[z]
        coarse = self._grid[z // 2]
        return bone & coarse.repeat(2, axis=0).repeat(2, axis=1)[: bone.shape[0], : bone.shape[1]]


def _halved_bone(hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """The bone on a grid twice as coarse, two slices at a time: a voxel is bone when
    any of its eight is."""
    depth, rows, cols = hu.shape
    out = np.zeros(((depth + 1) // 2, (rows + 1) // 2, (cols + 1) // 2), dtype=bool)
    for z in range(0, depth, 2):
        # cast: numpy types any(axis=...) as a scalar or an array; of 3-D bone, an array
        pair = cast(np.ndarray, (hu[z : z + 2] >= bone_hu).any(axis=0))
        plane = out[z // 2]
        for a in (0, 1):
            for b in (0, 1):
                part = pair[a::2, b::2]
                plane[: part.shape[0], : part.shape[1]] |= part
    return out


def _hull_planes(
    hu: np.ndarray,
    bone_hu: float,
    skull: _Skull,
    hulls: dict[int, tuple[PlaneBox, np.ndarray]],
) -> Iterator[tuple[int, PlaneBox, np.ndarray]]:
    """Per slice with skull pixels, the non-bone pixels inside the skull's hull.

    The box has a one-pixel margin outside the hull, so no region touches its border.
    Each hull is also stored in ``hulls`` for the growth step.
    """
    rows_all, cols_all = hu.shape[1], hu.shape[2]
    for z in range(hu.shape[0]):
        bone = hu[z] >= bone_hu
        plane = skull.plane(z, bone)
        rows = np.flatnonzero(plane.any(axis=1))
        if rows.size < 2:
            continue
        cols = np.flatnonzero(plane.any(axis=0))
        y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, rows_all)
        x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, cols_all)
        hull = _filled_hull(plane[y0:y1, x0:x1])
        if hull is None:
            continue
        hulls[z] = (y0, y1, x0, x1), hull
        yield z, (y0, y1, x0, x1), hull & ~bone[y0:y1, x0:x1]


def _filled_hull(plane: np.ndarray) -> np.ndarray | None:
    """The filled convex hull of the true pixels of ``plane`` (pixel centres), or None
    when they lie on one line.

    The hull of each row's leftmost and rightmost pixels is the hull of all of them.
    """
    rows = np.flatnonzero(plane.any(axis=1))
    sub = plane[rows]
    left = np.argmax(sub, axis=1)
    right = sub.shape[1] - 1 - np.argmax(sub[:, ::-1], axis=1)
    points = np.concatenate([np.stack([rows, left], 1), np.stack([rows, right], 1)])
    try:
        facets = ConvexHull(points.astype(float)).equations  # a*y + b*x + c <= 0 inside
    except QhullError:
        return None
    a, b, c = facets[:, 0], facets[:, 1], facets[:, 2]
    ys = np.arange(plane.shape[0], dtype=float)[:, None]
    limit = -c - a * ys  # b * x <= limit, per row and facet
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = limit / b
    high = np.where(b > 0, bound, np.inf).min(axis=1)
    low = np.where(b < 0, bound, -np.inf).max(axis=1)
    # cast: numpy types all(axis=...) as a scalar or an array; of this 2-D array, an array
    rows_ok = cast(np.ndarray, np.where(b == 0, limit >= -1e-6, True).all(axis=1))
    xs = np.arange(plane.shape[1], dtype=float)[None, :]
    return (xs >= low[:, None] - 1e-6) & (xs <= high[:, None] + 1e-6) & rows_ok[:, None]


def _grow_through_gap(
    hu: np.ndarray,
    bone: np.ndarray,
    skull: np.ndarray,
    brain: np.ndarray,
    box: PlaneBox,
    hull: np.ndarray,
    air_hu: float,
) -> None:
    """Add to ``brain`` (one slice, in place) the deep soft tissue beyond the hull that
    touches it; nothing when the slice's core does not reach a gap in the ring."""
    soft = (hu > air_hu) & ~bone
    rows, cols = np.flatnonzero(soft.any(axis=1)), np.flatnonzero(soft.any(axis=0))
    if rows.size == 0:  # only air and bone: the core holds no tissue to grow from
        return
    y0, x0 = max(min(int(rows[0]) - 1, box[0]), 0), max(min(int(cols[0]) - 1, box[2]), 0)
    y1 = min(max(int(rows[-1]) + 2, box[1]), hu.shape[0])
    x1 = min(max(int(cols[-1]) + 2, box[3]), hu.shape[1])
    crop = (slice(y0, y1), slice(x0, x1))
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    inside[box[0] - y0 : box[1] - y0, box[2] - x0 : box[3] - x0] = hull
    core, beyond = brain[crop], soft[crop] & ~inside
    seeds = _grown4(core) & beyond
    if not seeds.any():  # the core is closed off by bone: nothing to add
        return
    outer = skull[crop] & _grown4(~inside)
    if not outer.any():
        return
    # holder and couch count as outside: a scalp resting on them is no deeper for it
    depth = ndimage.distance_transform_edt((hu[crop] > air_hu) & (skull[crop] | ~bone[crop]))
    deep = beyond & (depth >= np.quantile(depth[outer], _SCALP_QUANTILE))
    labels, count = cc3d.connected_components(deep, connectivity=4, return_N=True)
    if count == 0:
        return
    touching = np.zeros(count + 1, dtype=bool)
    touching[labels[seeds & deep]] = True
    touching[0] = False
    core |= touching[labels]


def _grown4(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel in the four in-plane directions."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out

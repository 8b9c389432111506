"""Where the patches of a tiled prediction go: TorchIO's grid, padding and overlap counts.

Patch corners follow TorchIO's ``GridSampler`` exactly (``patch_overlap`` =
:func:`patch_overlap_voxels`, no padding mode), so :func:`platform.inference.
sliding_window.predict_volume` can be proved equal to TorchIO; patches holding no brain
voxel can be left out (:func:`patch_locations` with a brain mask).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["Triplet", "check_patch_size", "count_dtype", "count_patches", "grid_starts",
           "padding", "patch_locations", "patch_overlap_voxels", "window"]

Triplet = tuple[int, int, int]


def patch_overlap_voxels(patch_size: Sequence[int], overlap: float) -> Triplet:
    """Return the overlap in voxels per axis: ``round(patch * overlap)``, made even.

    TorchIO's ``GridSampler`` needs an even overlap (half of it is cropped on each side in
    its ``crop`` mode); an odd value is lowered by one, which also keeps it below the patch.

    Args:
        patch_size: patch edge lengths in voxels ``(D, H, W)``.
        overlap: fraction of a patch shared with its neighbour, in ``[0, 1)``.
    """
    size = check_patch_size(patch_size)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be a fraction in [0, 1), got {overlap}; use 0.25 for 25 %")
    voxels = [int(round(edge * overlap)) for edge in size]
    even = [value - value % 2 for value in voxels]
    return even[0], even[1], even[2]


def grid_starts(size: int, patch: int, overlap_voxels: int) -> list[int]:
    """Return patch start indices along one axis, exactly as TorchIO's ``GridSampler``.

    Starts step by ``patch - overlap_voxels`` from 0; a last patch is added flush with the
    end of the axis when the steps do not land there (so it overlaps its neighbour more).

    Args:
        size: axis length in voxels, at least ``patch``.
        patch: patch length in voxels.
        overlap_voxels: overlap in voxels, smaller than ``patch``.
    """
    if size < patch:
        raise ValueError(f"axis of {size} voxels is shorter than the patch ({patch}); pad it first")
    starts = list(range(0, size - patch + 1, patch - overlap_voxels))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def patch_locations(
    shape: Sequence[int],
    patch_size: Sequence[int],
    overlap: float,
    brain: np.ndarray | None = None,
) -> list[Triplet]:
    """Return the start corners ``(z, y, x)`` of the patches that are sent to the network.

    Args:
        shape: volume shape ``(Z, Y, X)``; axes shorter than the patch are treated as padded
            to the patch length, as :func:`predict_volume` does.
        patch_size: patch shape ``(D, H, W)`` in voxels.
        overlap: fraction of overlap in ``[0, 1)``.
        brain: optional mask of ``shape``; patches without any non-zero voxel are dropped.
    """
    size = check_patch_size(patch_size)
    overlap_vox = patch_overlap_voxels(size, overlap)
    pads = padding(shape, size)
    padded = [n + before + after for n, (before, after) in zip(shape, pads, strict=True)]
    axes = [grid_starts(n, p, o) for n, p, o in zip(padded, size, overlap_vox, strict=True)]
    corners = [(z, y, x) for z in axes[0] for y in axes[1] for x in axes[2]]
    if brain is None:
        return corners
    if tuple(brain.shape) != tuple(shape):
        raise ValueError(
            f"brain mask shape {brain.shape} differs from the image shape {tuple(shape)}"
        )
    mask = np.pad(brain, pads) if any(b or a for b, a in pads) else brain
    return [c for c in corners if mask[window(c, size)].any()]


def count_patches(
    shape: Sequence[int],
    patch_size: Sequence[int],
    overlap: float,
    brain: np.ndarray | None = None,
) -> int:
    """Return how many patches :func:`predict_volume` sends to the network (for reports)."""
    return len(patch_locations(shape, patch_size, overlap, brain))


def count_dtype(shape: Sequence[int], size: Triplet, overlap: float) -> torch.dtype:
    """Smallest integer dtype that holds the most patches covering one voxel."""
    overlap_vox = patch_overlap_voxels(size, overlap)
    per_axis = [
        math.ceil(p / (p - o)) + 1 if n > p else 1
        for n, p, o in zip(shape, size, overlap_vox, strict=True)
    ]
    most = math.prod(per_axis)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        if most <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


def padding(shape: Sequence[int], size: Triplet) -> list[tuple[int, int]]:
    """Per-axis ``(before, after)`` zero padding that makes each axis at least the patch."""
    if len(shape) != 3:
        raise ValueError(f"expected a 3D shape (Z, Y, X), got {tuple(shape)}")
    missing = [max(0, p - n) for n, p in zip(shape, size, strict=True)]
    return [(m // 2, m - m // 2) for m in missing]


def window(corner: Sequence[int], size: Sequence[int]) -> tuple[slice, slice, slice]:
    """Index of the box that starts at ``corner`` and has shape ``size``."""
    z, y, x = corner
    d, h, w = size
    return slice(z, z + d), slice(y, y + h), slice(x, x + w)


def check_patch_size(patch_size: Sequence[int]) -> Triplet:
    """Validate a patch shape of three positive integers."""
    values = tuple(int(v) for v in patch_size)
    if len(values) != 3 or min(values) < 1:
        raise ValueError(
            f"patch_size must be three positive voxel counts (D, H, W), got {patch_size}"
        )
    return values[0], values[1], values[2]

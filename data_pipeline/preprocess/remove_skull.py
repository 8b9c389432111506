"""Step ``remove_skull``: keep the brain, drop skull, scalp and head holder (section 2.1).

Three methods, chosen by name; ``docs/skull_removal.md`` has each one's figures on every
synthetic anatomy (closed skull, craniectomy, thin vertex bone, holder contact; every
head with an open skull base) and the command that measures them.

``"hull"`` (default) closes each slice's bone ring with the convex hull of the skull,
keeps the largest set of the regions inside linked from slice to slice, and adds the
soft tissue that bulges beyond the hull through a ring gap and lies deeper than the
slice's scalp (``skull_hull``). It keeps a lesion under a craniectomy and the lowest
brain slices, whose ring the foramen magnum opens.

``"enclosed"`` keeps only what bone encloses: per slice the holes of the bone mask, then
the largest set linked in 3D (``skull_regions``). Exact on closed skulls, but a slice
whose ring is open contributes nothing: a hemicraniectomy loses the brain under the
defect, lesion included, and the skull base loses the lowest posterior slices, silently.
Kept for comparison.

``"paper"`` is the paper's rule, slice by slice: keep the largest connected component of
the non-zero pixels (the head), zero the brightest pixels (bone), keep the largest
component again. On the top slices of a head the scalp ring outgrows the brain's cross
section, and the rule keeps the ring; below the skull base it keeps neck tissue. On the
405 x 512 x 512 benchmark phantom its mask holds 3.8 M non-brain voxels (a quarter of
it) and misses 3 % of the brain (CSF under 0 HU). Kept for the ablation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cc3d
import numpy as np

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.skull_hull import hull_brain_mask
from data_pipeline.preprocess.skull_regions import enclosed_brain_mask
from data_pipeline.preprocess.volume import Volume

__all__ = [
    "RemoveSkullParams",
    "brain_mask",
    "enclosed_brain_mask",
    "hull_brain_mask",
    "paper_brain_mask",
    "remove_skull",
]


class RemoveSkullParams(StepParams):
    """Parameters of ``remove_skull``."""

    method: Literal["hull", "enclosed", "paper"] = "hull"
    """``hull`` (ours): bone rings closed by the skull's convex hull, brain bulging through
    a bone defect kept; ``enclosed``: only regions bone encloses (loses slices whose ring
    is open); ``paper``: the paper's literal largest-component rule per slice (keeps the
    scalp ring on the top slices). Figures per anatomy: docs/skull_removal.md."""
    bone_hu: float = 80.0
    """Pixels at or above it are skull or holder: the paper's "brightest pixels", the top
    of its [0, 80] HU window."""
    tissue_hu: float = 0.0
    """``paper`` only: pixels above it form the head (non-zero after the [0, 80] window)."""
    air_hu: float = -500.0
    """``hull`` only (ours): pixels at or below it are air, from which the depth of tissue
    below the skin is measured (scalp fat is about -100 HU, air -1000)."""


@register_step("remove_skull", params=RemoveSkullParams)
def remove_skull(volume: Volume, params: RemoveSkullParams) -> Volume:
    """Find the brain; voxels outside it become 0 in the image and background for sampling.

    Thresholds apply to the source HU, so the result does not depend on ``hu_window``
    (with the default window, ``HU >= 80`` is exactly the clipped top).
    """
    return volume.with_brain(_METHODS[params.method](volume.source, params))


def brain_mask(hu: np.ndarray) -> np.ndarray:
    """The brain of a scan by the default method and settings, on its full grid.

    Why: scoring needs one brain region per patient that does not depend on the
    variant being scored (a variant without skull removal has no brain mask of its own),
    so that "specificity inside the brain" compares like with like.
    """
    return _METHODS[RemoveSkullParams().method](hu, RemoveSkullParams())


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
    "hull": lambda hu, p: hull_brain_mask(hu, p.bone_hu, p.air_hu),
    "enclosed": lambda hu, p: enclosed_brain_mask(hu, p.bone_hu),
    "paper": lambda hu, p: paper_brain_mask(hu, p.bone_hu, p.tissue_hu),
}

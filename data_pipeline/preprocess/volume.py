"""The state that preprocessing steps pass along, and the preprocessed case they produce.

Why a lazy state: every intensity step of the paper (HU window, standardization,
min-max) is a clip or an affine map, and skull removal only decides *where* the brain
is. So the working image is kept as ``where(brain, clip(source) * scale + offset, 0)``
and only the crop is ever written out as float32. A 512 x 512 x 405 scan then never
gets a second full-size float32 copy (405 MiB), and statistics are computed once over
the brain voxels instead of over the whole volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np

__all__ = ["Box", "BrainStats", "LesionLoss", "PreprocessedCase", "Volume", "mask_box"]

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""``((z0, z1), (y0, y1), (x0, x1))``: half-open voxel ranges of a crop on the full grid."""


@dataclass(frozen=True)
class LesionLoss:
    """Lesion voxels that preprocessing took from a case: never silently.

    Voxels outside the brain mask are zeroed in the image by ``remove_skull`` (the network
    sees background where the label says lesion); voxels outside the crop are gone from
    the training labels altogether (``crop_to_brain``). Both count against the case.

    Attributes:
        lesion_voxels: lesion voxels of the mask on the full grid.
        outside_brain: of those, voxels outside the brain mask.
        outside_crop: of those, voxels outside the crop box.
    """

    lesion_voxels: int = 0
    outside_brain: int = 0
    outside_crop: int = 0

    def fractions(self) -> dict[str, float]:
        """The share of the lesion lost, per step that lost it (0 for an empty mask)."""
        total = max(self.lesion_voxels, 1)
        return {"remove_skull": self.outside_brain / total,
                "crop_to_brain": self.outside_crop / total}

    @property
    def fraction(self) -> float:
        """The largest share lost by any one step."""
        return max(self.fractions().values())

    def problem(self, limit: float) -> str | None:
        """Why the case must be refused at ``limit`` (a fraction of the lesion), or None."""
        over = {step: share for step, share in self.fractions().items() if share > limit}
        if not over:
            return None
        step, share = max(over.items(), key=lambda item: item[1])
        return (f"{step} lost {share:.2%} of the lesion ({round(share * self.lesion_voxels)} "
                f"of {self.lesion_voxels} voxels), above preprocessing.max_lesion_loss = "
                f"{limit:.2%}; fix the step's settings for this scan, or raise the limit to "
                "accept the loss (it is then logged per case)")


@dataclass(frozen=True, eq=False)
class PreprocessedCase:
    """One preprocessed scan, cropped, with what is needed to paste results back.

    Attributes:
        image: ``(Z, Y, X)`` float32 in [0, 1], cropped.
        lesion: ``(Z, Y, X)`` uint8 0/1 on the same crop.
        brain: ``(Z, Y, X)`` uint8 0/1 on the same crop: the brain found by
            ``remove_skull``, or all ones when that step is off (then the weighted
            sampler's "healthy" label covers the whole volume).
        crop_box: where the crop lies on the full grid, see :data:`Box`.
        full_shape: ``(Z, Y, X)`` of the scan before cropping.
        spacing: voxel size ``(z, y, x)`` in mm (no resampling: the scan's own), for
            distances and volumes in the metrics; the cache fills it from the geometry.
        lesion_loss: the lesion voxels preprocessing took (outside the brain or the crop).
    """

    image: np.ndarray
    lesion: np.ndarray
    brain: np.ndarray
    crop_box: Box
    full_shape: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    lesion_loss: LesionLoss = LesionLoss()

    def paste(self, pred_cropped: np.ndarray, fill: float = 0) -> np.ndarray:
        """Put a prediction made on the crop back on the full grid.

        Args:
            pred_cropped: ``(Z, Y, X)`` array of the crop's shape (any dtype).
            fill: value of every voxel outside the crop.

        Returns:
            A ``full_shape`` array of ``pred_cropped``'s dtype.
        """
        if pred_cropped.shape != self.image.shape:
            raise ValueError(
                f"prediction shape {pred_cropped.shape} differs from the crop "
                f"{self.image.shape}; predict on PreprocessedCase.image"
            )
        full = np.full(self.full_shape, fill, dtype=pred_cropped.dtype)
        full[_slices(self.crop_box)] = pred_cropped
        return full


@dataclass(frozen=True)
class BrainStats:
    """Moments and range of the windowed HU inside the brain (before any affine map)."""

    count: int
    mean: float
    sd: float
    low: float
    high: float


@dataclass(frozen=True, eq=False)
class Volume:
    """A scan part-way through preprocessing; steps return a modified copy.

    The current image is ``clip(source, *window) * scale + offset`` inside ``brain``
    (everywhere when ``brain`` is None) and ``background`` outside it, restricted to
    ``box``.

    Attributes:
        source: ``(Z, Y, X)`` HU as given by the caller; never written to.
        lesion: ``(Z, Y, X)`` uint8 mask on the same grid.
        window: HU clip bounds, or None before ``hu_window``.
        scale: multiplier applied after the clip.
        offset: added after the multiplier.
        brain: boolean brain mask on the full grid, or None before ``remove_skull``.
        brain_box: bounding box of ``brain`` (statistics and the crop look only there).
        background: value of the voxels outside ``brain``.
        box: current crop, see :data:`Box`.
    """

    source: np.ndarray
    lesion: np.ndarray
    window: tuple[float, float] | None = None
    scale: float = 1.0
    offset: float = 0.0
    brain: np.ndarray | None = None
    brain_box: Box | None = None
    background: float = 0.0
    box: Box = ((0, 0), (0, 0), (0, 0))
    _stats: dict[tuple[float, float] | None, BrainStats] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def start(cls, hu: np.ndarray, lesion: np.ndarray) -> Volume:
        """The state before any step: the whole grid, no window, no brain."""
        if hu.ndim != 3 or hu.shape != lesion.shape:
            raise ValueError(
                f"hu and lesion must be (Z, Y, X) arrays of one shape, got {hu.shape} "
                f"and {lesion.shape}"
            )
        if not (np.issubdtype(hu.dtype, np.floating) or np.issubdtype(hu.dtype, np.integer)):
            raise TypeError(f"hu must hold real numbers (HU), got dtype {hu.dtype}")
        depth, rows, cols = hu.shape
        return cls(source=hu, lesion=lesion, box=((0, depth), (0, rows), (0, cols)))

    def with_brain(self, brain: np.ndarray) -> Volume:
        """A copy with a new brain mask; statistics of the old mask are dropped.

        Raises:
            ValueError: the mask is empty.
        """
        return replace(self, brain=brain, brain_box=mask_box(brain), background=0.0, _stats={})

    def with_affine(self, scale: float, offset: float) -> Volume:
        """A copy whose image (background included) is ``current * scale + offset``."""
        if not scale > 0:
            raise ValueError(f"an affine step must keep the order of values, got scale {scale}")
        return replace(
            self,
            scale=self.scale * scale,
            offset=self.offset * scale + offset,
            background=self.background * scale + offset,
        )

    def brain_stats(self) -> BrainStats:
        """Moments and range of ``clip(source)`` over the brain.

        Computed once per window and brain and shared by the steps that need them
        (standardization needs the moments, min-max the range): one float32 gather of
        the brain voxels inside the brain's box, sums accumulated in float64.
        """
        if self.brain is None or self.brain_box is None:
            raise ValueError("brain statistics need a brain mask: run remove_skull first")
        cached = self._stats.get(self.window)
        if cached is None:
            crop = _slices(self.brain_box)
            values = self.source[crop][self.brain[crop]].astype(np.float32, copy=False)
            self._clip(values)
            low, high = float(values.min()), float(values.max())
            mean = float(values.mean(dtype=np.float64))
            values -= np.float32(mean)
            np.square(values, out=values)
            sd = float(np.sqrt(values.mean(dtype=np.float64)))
            cached = BrainStats(int(values.size), mean, sd, low, high)
            self._stats[self.window] = cached
        return cached

    def value_range(self) -> tuple[float, float]:
        """Lowest and highest ``clip(source)`` over the brain, or over the box without one."""
        if self.brain is not None:
            stats = self.brain_stats()
            return stats.low, stats.high
        region = self.source[_slices(self.box)]
        pair = np.array([region.min(), region.max()], dtype=np.float64)
        self._clip(pair)
        return float(pair[0]), float(pair[1])

    def _clip(self, values: np.ndarray) -> None:
        if self.window is not None:
            np.clip(values, *self.window, out=values)

    @property
    def has_background(self) -> bool:
        """Whether some voxel of the box lies outside the brain (and so is ``background``)."""
        if self.brain is None:
            return False
        size = int(np.prod([b - a for a, b in self.box]))
        return self.brain_stats().count < size

    def to_case(self) -> PreprocessedCase:
        """Write the crop out: the only full-resolution float32 array preprocessing makes."""
        crop = _slices(self.box)
        image = np.empty([b - a for a, b in self.box], dtype=np.float32)
        region = self.source[crop]
        if self.window is None:
            np.copyto(image, region, casting="unsafe")
        else:
            np.clip(region, *self.window, out=image, casting="unsafe")
        image *= np.float32(self.scale)
        image += np.float32(self.offset)
        np.clip(image, 0.0, 1.0, out=image)  # rounding of the affine map may step past 0 or 1
        if self.brain is None:
            brain = np.ones(image.shape, dtype=np.uint8)
        else:
            brain = self.brain[crop].view(np.uint8).copy()
            image *= brain  # after the clip, so the background is +0.0, never -0.0
            if self.background:
                image[brain == 0] = np.clip(self.background, 0.0, 1.0)
        lesion = np.ascontiguousarray(self.lesion[crop], dtype=np.uint8)
        depth, rows, cols = self.source.shape
        return PreprocessedCase(
            image=image,
            lesion=lesion,
            brain=brain,
            crop_box=self.box,
            full_shape=(depth, rows, cols),
            lesion_loss=self._lesion_loss(int(np.count_nonzero(lesion))),
        )

    def _lesion_loss(self, inside_crop: int) -> LesionLoss:
        total = int(np.count_nonzero(self.lesion))
        outside_brain = 0
        if self.brain is not None and total:
            outside_brain = int(np.count_nonzero(self.lesion.astype(bool, copy=False)
                                                 & ~self.brain))
        return LesionLoss(total, outside_brain, total - inside_crop)


def mask_box(mask: np.ndarray) -> Box:
    """Half-open bounding box of the true voxels of a ``(Z, Y, X)`` mask.

    Two passes: the slices holding the mask first, then the rows and columns of those
    slices only.

    Raises:
        ValueError: the mask is empty.
    """
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    if zs.size == 0:
        raise ValueError(
            "the brain mask is empty: remove_skull found no region enclosed by bone "
            "(check that the input is in HU and that bone_hu suits the scanner)"
        )
    # cast: numpy types any(axis=...) as a scalar or an array; of a 3-D mask, an array
    plane = cast(np.ndarray, mask[zs[0] : zs[-1] + 1].any(axis=0))
    ys = np.flatnonzero(plane.any(axis=1))
    xs = np.flatnonzero(plane.any(axis=0))
    return (
        (int(zs[0]), int(zs[-1]) + 1),
        (int(ys[0]), int(ys[-1]) + 1),
        (int(xs[0]), int(xs[-1]) + 1),
    )


def _slices(box: Box) -> tuple[slice, slice, slice]:
    (z0, z1), (y0, y1), (x0, x1) = box
    return slice(z0, z1), slice(y0, y1), slice(x0, x1)

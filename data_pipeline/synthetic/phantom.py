"""Synthetic non-contrast head CT phantoms with ischemic lesions, built in memory.

Why: the platform is tested end to end without patient data. ``phantom_anatomy`` draws
the healthy head (tissues, holder, skull base, shading, noise); this module adds what the
network must find, faint hypodense infarcts 3-8 HU below the tissue they replace (Dobshik
et al. 2023, arXiv:2301.06793: lesions are about 0.8 % of the voxels), and checks the
arguments. The lesions are carved after the healthy head is drawn, so the same generator
state with ``lesion_count=0`` gives the same head without them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from data_pipeline.synthetic.phantom_anatomy import (
    MIN_SIDE,
    Anatomy,
    HeadFrame,
    Tissue,
    render_head,
)
from data_pipeline.synthetic.smooth_field import SmoothField

__all__ = ["Anatomy", "HeadPhantom", "Tissue", "make_head_phantom"]

logger = logging.getLogger(__name__)

_FLOAT = np.float32

_BRAIN = (Tissue.GREY, Tissue.WHITE, Tissue.VENTRICLE, Tissue.LESION, Tissue.CSF)


@dataclass(frozen=True, eq=False)
class HeadPhantom:
    """One synthetic head CT.

    Attributes:
        hu: ``(Z, Y, X)`` int16 Hounsfield units, with noise and shading.
        lesion: ``(Z, Y, X)`` uint8 ground-truth infarct mask (0/1).
        tissue: ``(Z, Y, X)`` uint8 :class:`Tissue` labels.
        spacing: voxel size ``(z, y, x)`` in mm.
    """

    hu: np.ndarray
    lesion: np.ndarray
    tissue: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def brain(self) -> np.ndarray:
        """Boolean ``(Z, Y, X)`` mask of everything inside the skull above the skull base."""
        return np.isin(self.tissue, np.array(_BRAIN, dtype=np.uint8))


def make_head_phantom(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    lesion_count: int | None = None,
    small_lesions: bool = False,
    anatomy: Anatomy | None = None,
) -> HeadPhantom:
    """Draw one synthetic head CT with 1-3 hypodense infarcts.

    Cost: about 10 float32 passes over the volume; 405 x 512 x 512 takes seconds and
    about the outputs' memory (0.4 GB) plus 0.3 GB of temporaries.

    Args:
        shape: ``(Z, Y, X)`` voxels, each at least 32.
        spacing: ``(z, y, x)`` voxel size in mm (the paper: 0.5 and 0.38-0.5 in plane).
        rng: source of all randomness; the same generator state gives the same phantom.
        lesion_count: number of infarcts; ``None`` draws 1-3, 0 gives a healthy head.
        small_lesions: lesions cover about 0.05-0.3 % of the volume instead of 0.3-1.5 %
            (fractions hold when the head fills the field of view, as at the paper's size).
        anatomy: skull variants (:class:`Anatomy`); None is an intact skull. With a
            craniectomy every lesion lies beneath the defect.

    Returns:
        The phantom; lesion voxels are 3-8 HU darker than the tissue they replace.

    Raises:
        ValueError: a side below 32 voxels, a non-positive spacing or a negative count.
    """
    shape, spacing = _checked(shape, spacing, lesion_count)
    hu, tissue, frame = render_head(shape, spacing, rng, anatomy)
    count = int(rng.integers(1, 4)) if lesion_count is None else lesion_count
    fraction = rng.uniform(0.0008, 0.0025) if small_lesions else rng.uniform(0.004, 0.012)
    _place_lesions(hu, tissue, spacing, frame, rng, count, fraction)
    lesion = (tissue == Tissue.LESION).astype(np.uint8)
    logger.debug("phantom %s: %d lesions, %.3f %% lesion voxels", shape, count, 100 * lesion.mean())
    return HeadPhantom(hu=hu, lesion=lesion, tissue=tissue, spacing=spacing)


def _checked(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], lesion_count: int | None
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """Validate the arguments where they enter, naming what was expected."""
    if len(shape) != 3 or any(int(n) != n or n < MIN_SIDE for n in shape):
        raise ValueError(
            f"shape must be three integers (Z, Y, X), each >= {MIN_SIDE}, got {tuple(shape)}; "
            f"smaller heads leave no room for every tissue"
        )
    if len(spacing) != 3 or not all(math.isfinite(d) and d > 0 for d in spacing):
        raise ValueError(f"spacing must be three positive mm values (z, y, x), got {spacing}")
    if lesion_count is not None and lesion_count < 0:
        raise ValueError(f"lesion_count must be >= 0 or None (draw 1-3), got {lesion_count}")
    return (
        (int(shape[0]), int(shape[1]), int(shape[2])),
        (float(spacing[0]), float(spacing[1]), float(spacing[2])),
    )


def _place_lesions(
    hu: np.ndarray,
    tissue: np.ndarray,
    spacing: tuple[float, float, float],
    frame: HeadFrame,
    rng: np.random.Generator,
    count: int,
    fraction: float,
) -> None:
    """Carve ``count`` infarcts, ``fraction`` of the volume in all, into grey/white matter.

    The total is capped at a quarter of the parenchyma, which only binds when the head
    fills a small part of the field of view.
    """
    if count == 0:
        return
    parenchyma = int(np.count_nonzero((tissue == Tissue.GREY) | (tissue == Tissue.WHITE)))
    total = min(fraction * tissue.size, 0.25 * parenchyma)
    axes = tuple(
        np.arange(n, dtype=_FLOAT) * _FLOAT(d) for n, d in zip(tissue.shape, spacing, strict=True)
    )
    for share in rng.dirichlet(np.full(count, 4.0)):
        centre = _lesion_centre(tissue, axes, frame, rng)
        voxels = max(int(share * total), 1)
        _carve_one(hu, tissue, axes, spacing, centre, voxels, frame.fine, rng)


def _carve_one(
    hu: np.ndarray,
    tissue: np.ndarray,
    axes: tuple[np.ndarray, ...],
    spacing: tuple[float, float, float],
    centre: tuple[int, int, int],
    voxels: int,
    fine: float,
    rng: np.random.Generator,
) -> None:
    """One irregular blob: the ``voxels`` best-scoring parenchyma voxels around ``centre``.

    The score is an ellipsoidal falloff plus smooth noise, so the blob is compact but
    ragged, and it never leaves grey/white matter (it is clipped at the cortex surface and
    the ventricles, like a territorial infarct).
    """
    step = np.array(spacing)
    radius = (3.0 * voxels * float(np.prod(step)) / (4.0 * math.pi)) ** (1.0 / 3.0)
    semi = radius * rng.permutation([1.4, 1.0, 0.8])
    half = np.ceil(1.8 * semi.max() / step).astype(int)
    box = tuple(
        slice(max(c - h, 0), min(c + h + 1, n))
        for c, h, n in zip(centre, half, tissue.shape, strict=True)
    )
    local = tuple(a[b] for a, b in zip(axes, box, strict=True))
    dz, dy, dx = (
        (a - axis[c]) / _FLOAT(e) for a, axis, c, e in zip(local, axes, centre, semi, strict=True)
    )
    score = SmoothField(rng, local, max(0.3 * radius, 2 * fine)).slab(0, dz.size)
    score -= dz[:, None, None] ** 2 + dy[None, :, None] ** 2 + dx[None, None, :] ** 2
    sub_tissue, sub_hu = tissue[box], hu[box]  # views: writes land in the volume
    allowed = (sub_tissue == Tissue.GREY) | (sub_tissue == Tissue.WHITE)
    k = min(voxels, int(np.count_nonzero(allowed)))
    if k == 0:
        return
    score[~allowed] = -np.inf
    chosen = score >= np.partition(score.ravel(), score.size - k)[score.size - k]
    sub_hu[chosen] = np.rint(sub_hu[chosen] - rng.uniform(3.5, 7.5))
    sub_tissue[chosen] = Tissue.LESION


def _lesion_centre(
    tissue: np.ndarray,
    axes: tuple[np.ndarray, ...],
    frame: HeadFrame,
    rng: np.random.Generator,
) -> tuple[int, int, int]:
    """A random grey/white voxel in the lateral part of one hemisphere (an MCA-like
    region); beneath the defect's central part when the head has a craniectomy."""
    side = rng.choice([-1.0, 1.0])
    near = None
    if frame.defect is not None:
        side = frame.defect.side
        dz = (axes[0] - _FLOAT(frame.centre[0]))[:, None]
        dy = (axes[1] - _FLOAT(frame.centre[1]))[None, :]
        near = frame.defect.q(dz, dy) < 0.5  # (Z, Y)
    lateral = (axes[2] - frame.centre[2]) * side
    columns = np.flatnonzero(
        (lateral > 0.25 * frame.half_width) & (lateral < 0.75 * frame.half_width)
    )
    if columns.size == 0:
        columns = np.flatnonzero(lateral > 0)
    xs = slice(columns[0], columns[-1] + 1)
    region = tissue[:, :, xs]
    allowed = (region == Tissue.GREY) | (region == Tissue.WHITE)
    if near is not None and (allowed & near[:, :, None]).any():
        allowed &= near[:, :, None]
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        candidates = np.flatnonzero((tissue == Tissue.GREY) | (tissue == Tissue.WHITE))
        xs = slice(0, tissue.shape[2])
    z, y, x = np.unravel_index(candidates[rng.integers(candidates.size)], tissue[:, :, xs].shape)
    return int(z), int(y), int(x + xs.start)

"""The healthy synthetic head: tissue labels and HU, rendered slab by slab.

Why: the preprocessing of Dobshik et al. (2023, arXiv:2301.06793) only matters when the
input has what real scans have: a head holder under the head, a scalp and skull ring that
outgrows the brain's cross-section on the top slices (where the paper's "keep the largest
connected component" rule picks the ring), a skull base with soft tissue below the brain
and a posterior opening of the ring above it (foramen magnum), air above the head,
grey/white contrast, noise and beam-hardening shading. ``phantom_skull`` draws the open
skull base and the optional skull variants (craniectomy, thin vertex bone, holder contact).

Everything is laid out in millimetres around a reference head drawn for the paper's field
of view (about 405 x 512 x 512 voxels of 0.5 x 0.45 x 0.45 mm), scaled isotropically so
that any shape shows the whole head; the per-patient sizes and intensities are drawn by
``phantom_layout``, and rendered here. Axis 0 runs from the feet side (skull base, index 0)
to the vertex; rows run anterior to posterior, so the holder lies at the high row indices.
Slabs of 32 slices keep the peak memory of a full-size scan near the size of its outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data_pipeline.synthetic.phantom_layout import (
    HeadLayout,
    Intensity,
    Tissue,
    draw_intensity,
    draw_layout,
)
from data_pipeline.synthetic.phantom_skull import Anatomy, Defect, skull_base_window
from data_pipeline.synthetic.smooth_field import SmoothField

__all__ = ["MIN_SIDE", "Anatomy", "HeadFrame", "Tissue", "render_head"]

MIN_SIDE = 32  # below this the floored layers leave no white matter
_SLAB = 32  # slices rendered at once: bounds the float32 temporaries
_FLOAT = np.float32


@dataclass(frozen=True)
class HeadFrame:
    """Where the head lies, for placing lesions: millimetres in array coordinates.

    Attributes:
        centre: ``(z, y, x)`` mm of the head centre (array coordinate ``k * spacing``).
        half_width: left-right semi-axis of the head in mm.
        fine: the thinnest layer the grid resolves (one voxel of its coarsest axis), mm.
        defect: the craniectomy, offsets from ``centre``; None for an intact skull.
    """

    centre: tuple[float, float, float]
    half_width: float
    fine: float
    defect: Defect | None = None


def render_head(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    anatomy: Anatomy | None = None,
) -> tuple[np.ndarray, np.ndarray, HeadFrame]:
    """Draw a healthy head: ``(hu int16, tissue uint8, frame)``, arrays ``(Z, Y, X)``.

    Cost: about ten float32 passes over the volume (seconds at 405 x 512 x 512), memory
    the two outputs plus one slab of temporaries; a craniectomy adds about two passes
    over the slabs it crosses. Arguments are checked by the caller.

    Args:
        shape: ``(Z, Y, X)`` voxels.
        spacing: ``(z, y, x)`` mm.
        rng: source of all randomness.
        anatomy: optional skull variants; None is an intact skull (open skull base).
    """
    anatomy = Anatomy() if anatomy is None else anatomy
    scene = _build_scene(shape, spacing, rng, anatomy)
    hu = np.empty(shape, dtype=np.int16)
    tissue = np.empty(shape, dtype=np.uint8)
    for z0 in range(0, shape[0], _SLAB):
        z1 = min(z0 + _SLAB, shape[0])
        tissue[z0:z1], depth, skull_t = _tissue_slab(scene, z0, z1)
        hu[z0:z1] = _hu_slab(scene, tissue[z0:z1], depth, skull_t, z0, z1, rng)
    lay = scene.lay
    defect = lay.skull_var.defect if anatomy.craniectomy else None
    frame = HeadFrame(centre=lay.centre, half_width=lay.axes[0], fine=lay.fine, defect=defect)
    return hu, tissue, frame


@dataclass(frozen=True)
class _Scene:
    """Everything a slab needs: anatomy, intensities, random fields and in-plane masks."""

    lay: HeadLayout
    inten: Intensity
    anatomy: Anatomy
    spacing: tuple[float, float, float]
    axes: tuple[np.ndarray, ...]  # mm coordinates of slices, rows and columns
    fields: dict[str, SmoothField]
    plane: tuple[np.ndarray, np.ndarray]  # (Y, X) in-plane ellipsoid terms
    cradle: np.ndarray  # (Y, X) head rest cross-section
    couch: np.ndarray  # (Y, X) couch cross-section
    cupping: np.ndarray  # (Y, X) HU offset, darkest at the centre of the head


def _build_scene(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    anatomy: Anatomy,
) -> _Scene:
    """Draw one patient's anatomy, intensities and smooth fields."""
    lay = draw_layout(shape, spacing, rng, anatomy)
    inten = draw_intensity(rng)
    axes = tuple(
        np.arange(n, dtype=_FLOAT) * _FLOAT(d) for n, d in zip(shape, spacing, strict=True)
    )
    fields = {
        "outer": SmoothField(rng, axes, 30.0 * lay.scale),
        "skull": SmoothField(rng, axes, 20.0 * lay.scale),
        "density": SmoothField(rng, axes, 12.0 * lay.scale),
        "cortex": SmoothField(rng, axes, max(5.0 * lay.scale, 2 * lay.fine)),
        "shading": SmoothField(rng, axes, 40.0 * lay.scale),
    }
    dy = (axes[1] - _FLOAT(lay.centre[1]))[:, None]
    dx = (axes[2] - _FLOAT(lay.centre[2]))[None, :]
    plane = _plane_terms(dy, dx, lay.axes)
    cradle, couch = _holder(
        dy, dx, lay, _ellipsoid_depth(np.zeros((1, 1), _FLOAT), plane, lay.axes)
    )
    centre = np.exp(-0.5 * ((dx / (0.5 * lay.axes[0])) ** 2 + (dy / (0.5 * lay.axes[1])) ** 2))
    cupping = (-inten.cupping * centre).astype(_FLOAT)
    return _Scene(lay, inten, anatomy, spacing, axes, fields, plane, cradle, couch, cupping)


def _offsets(scene: _Scene, z0: int, z1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable mm offsets from the head centre: ``(n,1,1)``, ``(1,Y,1)``, ``(1,1,X)``."""
    z, y, x = scene.lay.centre
    return (
        (scene.axes[0][z0:z1] - _FLOAT(z))[:, None, None],
        (scene.axes[1] - _FLOAT(y))[None, :, None],
        (scene.axes[2] - _FLOAT(x))[None, None, :],
    )


def _above_base(dz: np.ndarray, dy: np.ndarray, lay: HeadLayout) -> np.ndarray:
    """Height in mm above the skull-base plate; the anterior fossa (low rows) sits higher."""
    return dz - (_FLOAT(lay.base) - _FLOAT(0.2) * dy)


def _tissue_slab(scene: _Scene, z0: int, z1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue labels of slices ``z0:z1``, with the depth below the scalp surface and the
    local skull thickness (both mm) that the intensities need."""
    lay = scene.lay
    dz, dy, dx = _offsets(scene, z0, z1)
    neck = np.maximum(dz, _FLOAT(-0.55 * lay.axes[3]))  # below this the head is a cylinder
    depth = _ellipsoid_depth(neck, scene.plane, lay.axes)
    depth += _FLOAT(1.5 * lay.scale) * scene.fields["outer"].slab(z0, z1)
    skull_t = _perturbed(scene.fields["skull"].slab(z0, z1), lay.skull, 0.2)
    defect = lay.skull_var.defect.on_slab(dz, dy, dx) if scene.anatomy.craniectomy else None
    if defect is not None:  # no bone; the brain fills its place and lifts the scalp flap
        inside, lift = defect
        depth += lift
        skull_t[inside] = 0
    inner = depth - _FLOAT(lay.scalp)
    inner -= skull_t  # depth below the inner table
    above_base = _above_base(dz, dy, lay)
    brain = (inner >= 0) & (above_base >= 0)
    skull = (depth >= lay.scalp) & ~brain & ((inner < 0) | (above_base > -lay.plate))
    skull &= ~(skull_base_window(dy, dx, above_base, lay.skull_var) & (inner < 0))
    tissue = np.where(depth >= 0, np.uint8(Tissue.SCALP), np.uint8(Tissue.AIR))
    _paint(tissue, Tissue.SKULL, skull)
    np.minimum(inner, above_base, out=inner)  # depth into the brain from skull or base
    cortex = _perturbed(scene.fields["cortex"].slab(z0, z1), lay.cortex, 0.4)
    cortex += _FLOAT(lay.csf)
    _paint(tissue, Tissue.WHITE, brain)
    _paint(tissue, Tissue.GREY, brain & (inner < cortex))
    _paint(tissue, Tissue.CSF, brain & (inner < lay.csf))
    ventricles = _ventricles(dz, dy, dx, lay)
    if ventricles is not None:
        _paint(tissue, Tissue.VENTRICLE, brain & (inner >= lay.csf) & ventricles)
    holder = scene.couch | (scene.cradle & (dz < 0.35 * lay.axes[2]))
    _paint(tissue, Tissue.HOLDER, (depth < 0) & holder)
    return tissue, depth, skull_t


def _hu_slab(
    scene: _Scene,
    tissue: np.ndarray,
    depth: np.ndarray,
    skull_t: np.ndarray,
    z0: int,
    z1: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """HU of slices ``z0:z1``: tissue means, layered bone, shading and noise, as int16."""
    lay, inten = scene.lay, scene.inten
    hu = inten.lut[tissue]
    skull = tissue == Tissue.SKULL
    across = (depth[skull] - _FLOAT(lay.scalp)) / skull_t[skull]  # 0 outer, 1 inner table
    edge = np.abs(2 * np.clip(across, 0, 1, out=across) - 1)  # the plate counts as table
    bone = inten.diploe + (inten.table - inten.diploe) * edge * edge * edge
    bone += 120.0 * scene.fields["density"].slab(z0, z1)[skull]
    hu[skull] = bone
    dz, dy, _ = _offsets(scene, z0, z1)
    if scene.anatomy.thin_vertex:  # the cap's bone, averaged with what lies around it
        cap = lay.axes[2] - lay.scalp - lay.skull - lay.skull_var.vertex_thin
        thin = skull & (dz > _FLOAT(cap))
        hu[thin] = _FLOAT(lay.skull_var.vertex_hu)
        skull &= ~thin  # only dense bone is clipped to the bone range below
    rise = np.maximum(_above_base(dz, dy, lay), 0) / _FLOAT(max(20.0 * lay.scale, lay.fine))
    shading = scene.fields["shading"].slab(z0, z1)
    shading += scene.cupping
    shading -= _FLOAT(inten.base_shading) * np.exp(-0.5 * rise * rise)
    np.add(hu, shading, out=hu, where=depth >= 0)
    hu += _FLOAT(inten.noise_sd) * rng.standard_normal(hu.shape, dtype=_FLOAT)
    hu[skull] = np.clip(hu[skull], 700.0, 1800.0)
    np.clip(np.rint(hu, out=hu), -1024, 3071, out=hu)
    return hu.astype(np.int16)


def _perturbed(field: np.ndarray, mean: float, relative: float) -> np.ndarray:
    """``mean * (1 + relative * field)`` in place, the field clipped to +-2 SD."""
    np.clip(field, -2, 2, out=field)
    field *= _FLOAT(relative * mean)
    field += _FLOAT(mean)
    return field


def _paint(tissue: np.ndarray, label: Tissue, where: np.ndarray) -> None:
    """Set ``label`` where the mask is true (faster than boolean-index assignment)."""
    np.copyto(tissue, np.uint8(label), where=where)


def _ellipsoid_depth(
    dz: np.ndarray, plane: tuple[np.ndarray, np.ndarray], axes: tuple[float, float, float, float]
) -> np.ndarray:
    """Approximate depth in mm below an egg-shaped surface (negative outside).

    First-order distance ``(1 - rho) / |grad rho|``: exact for a sphere and within a few
    percent near the surface of these mildly eccentric ellipsoids. ``plane`` holds the
    in-plane parts of ``rho**2`` and ``|grad rho**2 / 2|**2``, computed once per patient.
    """
    az = np.where(dz > 0, _FLOAT(axes[2]), _FLOAT(axes[3]))
    rho = np.sqrt(plane[0] + (dz / az) ** 2)
    depth = 1.0 - rho
    depth *= rho
    depth /= np.sqrt(np.maximum(plane[1] + (dz / az**2) ** 2, _FLOAT(1e-12)))
    return depth


def _plane_terms(
    dy: np.ndarray, dx: np.ndarray, axes: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """In-plane parts of the ellipsoid's ``rho**2`` and squared gradient, ``(Y, X)``."""
    ax, ay = _FLOAT(axes[0]), _FLOAT(axes[1])
    return (dx / ax) ** 2 + (dy / ay) ** 2, (dx / ax**2) ** 2 + (dy / ay**2) ** 2


def _ventricles(
    dz: np.ndarray, dy: np.ndarray, dx: np.ndarray, lay: HeadLayout
) -> np.ndarray | None:
    """Two tilted ellipsoids whose frontal horns diverge (the lateral ventricles), or
    ``None`` when the slab misses them."""
    vz, vy, vx, ez, ey, ex = lay.ventricle
    if not np.any(np.abs(dz - vz) < ez):
        return None
    sin, cos = math.sin(lay.ventricle_tilt), math.cos(lay.ventricle_tilt)
    height = ((dz - vz) / ez) ** 2
    inside = np.zeros(np.broadcast_shapes(dz.shape, dy.shape, dx.shape), dtype=bool)
    for side in (-1.0, 1.0):
        px, py = dx - side * vx, dy - vy
        along = -side * sin * px + cos * py
        across = cos * px + side * sin * py
        inside |= (across / ex) ** 2 + (along / ey) ** 2 + height < 1.0
    return inside


def _holder(
    dy: np.ndarray, dx: np.ndarray, lay: HeadLayout, plane_depth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """In-plane masks of a curved head rest hugging the back of the head and of the couch.

    ``plane_depth`` is the depth below the head's widest cross-section, so ``-plane_depth``
    is the air gap between head and rest.
    """
    ax, ay = lay.axes[0], lay.axes[1]
    gap = -plane_depth
    cradle = (gap >= lay.holder_gap) & (gap < lay.holder_gap + lay.holder) & (dy > 0.3 * ay)
    couch_top = ay + lay.holder_gap + lay.holder + lay.couch_gap
    couch = (dy >= couch_top) & (dy < couch_top + lay.holder) & (np.abs(dx) < 1.3 * ax)
    return cradle, couch

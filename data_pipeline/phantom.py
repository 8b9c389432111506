"""Synthetic non-contrast head CT phantoms with ischemic lesions, built in memory.

Why: the platform is tested end to end without patient data, and the preprocessing of
Dobshik et al. (2023, arXiv:2301.06793) only matters when the input has what real scans
have: a head holder under the head, a scalp and skull ring that outgrows the brain's
cross-section on the top slices (where the paper's "keep the largest connected
component" rule picks the ring), a skull base with soft tissue below the brain, air above
the head, grey/white contrast, noise, beam-hardening shading and faint hypodense infarcts.

Everything is laid out in millimetres around a reference head drawn for the paper's field
of view (about 405 x 512 x 512 voxels of 0.5 x 0.45 x 0.45 mm), scaled isotropically so
that any shape shows the whole head; thin layers keep a floor of one to two voxels so a
32^3 volume still shows every tissue. Axis 0 runs from the feet side (skull base, index 0)
to the vertex; rows run anterior to posterior, so the holder lies at the high row indices.
Rendering runs slab by slab, so the peak memory of a full-size scan stays near the size
of its outputs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["HeadPhantom", "Tissue", "make_head_phantom"]

logger = logging.getLogger(__name__)

_REF_FOV_MM = (210.0, 240.0, 240.0)  # (z, y, x) field of view the reference head fills
_MIN_SIDE = 32  # below this the floored layers leave no white matter
_SLAB = 32  # slices rendered at once: bounds the float32 temporaries
_FLOAT = np.float32


class Tissue(IntEnum):
    """Tissue classes of :attr:`HeadPhantom.tissue`."""

    AIR = 0
    SCALP = 1  # scalp and other soft tissue (also below the skull base)
    SKULL = 2
    GREY = 3
    WHITE = 4
    VENTRICLE = 5
    LESION = 6
    HOLDER = 7  # head holder and couch
    CSF = 8  # thin subarachnoid layer between skull and cortex


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


@dataclass(frozen=True)
class _Layout:
    """Per-patient anatomy in mm: array coordinates ``k * spacing`` of axis ``(z, y, x)``."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float, float]  # outer semi-axes x, y, z above / below centre
    scalp: float
    skull: float
    csf: float
    cortex: float
    base: float  # height of the skull-base plate top above the centre at y = centre
    plate: float
    ventricle: tuple[float, float, float, float, float, float]  # dz, dy, dx, ez, ey, ex
    ventricle_tilt: float
    holder_gap: float
    holder: float
    couch_gap: float
    scale: float
    fine: float  # floor for thin layers: one voxel of the coarsest axis


@dataclass(frozen=True)
class _Intensity:
    """Per-patient HU of each tissue and the artefact amplitudes."""

    lut: np.ndarray  # mean HU by Tissue value
    diploe: float
    table: float
    noise_sd: float
    cupping: float
    base_shading: float


def make_head_phantom(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    lesion_count: int | None = None,
    small_lesions: bool = False,
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

    Returns:
        The phantom; lesion voxels are 3-8 HU darker than the tissue they replace.

    Raises:
        ValueError: a side below 32 voxels, a non-positive spacing or a negative count.
    """
    shape, spacing = _checked(shape, spacing, lesion_count)
    scene = _build_scene(shape, spacing, rng)
    hu = np.empty(shape, dtype=np.int16)
    tissue = np.empty(shape, dtype=np.uint8)
    for z0 in range(0, shape[0], _SLAB):
        z1 = min(z0 + _SLAB, shape[0])
        tissue[z0:z1], depth, skull_t = _tissue_slab(scene, z0, z1)
        hu[z0:z1] = _hu_slab(scene, tissue[z0:z1], depth, skull_t, z0, z1, rng)
    count = int(rng.integers(1, 4)) if lesion_count is None else lesion_count
    fraction = rng.uniform(0.0008, 0.0025) if small_lesions else rng.uniform(0.004, 0.012)
    _place_lesions(hu, tissue, scene, rng, count, fraction)
    lesion = (tissue == Tissue.LESION).astype(np.uint8)
    logger.debug("phantom %s: %d lesions, %.3f %% lesion voxels", shape, count, 100 * lesion.mean())
    return HeadPhantom(hu=hu, lesion=lesion, tissue=tissue, spacing=spacing)


def _checked(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], lesion_count: int | None
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """Validate the arguments where they enter, naming what was expected."""
    if len(shape) != 3 or any(int(n) != n or n < _MIN_SIDE for n in shape):
        raise ValueError(
            f"shape must be three integers (Z, Y, X), each >= {_MIN_SIDE}, got {tuple(shape)}; "
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


def _draw_layout(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], rng: np.random.Generator
) -> _Layout:
    """Size the reference head to the field of view and jitter it per patient."""
    fov = [n * d for n, d in zip(shape, spacing, strict=True)]
    s = min(f / r for f, r in zip(fov, _REF_FOV_MM, strict=True))
    fine = max(spacing)

    def mm(ref: float, floor_voxels: float) -> float:
        return max(ref * s, floor_voxels * fine)

    top = rng.uniform(0.95, 1.05) * 95.0 * s
    air = mm(8.0, 2.0)
    centre = (fov[0] - air - top, fov[1] / 2 - 10.0 * s, fov[2] / 2 + rng.uniform(-3, 3) * s)
    width = rng.uniform(0.95, 1.03)
    return _Layout(
        centre=centre,
        axes=(72.0 * s * width, 88.0 * s * width, top, 160.0 * s),
        scalp=mm(rng.uniform(4.0, 6.0), 1.5),
        skull=mm(rng.uniform(5.5, 8.0), 2.0),
        csf=mm(1.5, 1.5),
        cortex=mm(rng.uniform(2.5, 3.5), 1.5),
        base=-rng.uniform(50.0, 58.0) * s,
        plate=mm(8.0, 2.0),
        ventricle=(
            -12.0 * s,
            -4.0 * s,
            mm(10.0, 3.0),
            mm(14.0, 1.5),
            mm(rng.uniform(24.0, 30.0), 2.5),
            mm(rng.uniform(6.0, 8.0), 1.0),
        ),
        ventricle_tilt=math.radians(rng.uniform(12.0, 25.0)),
        holder_gap=mm(rng.uniform(2.0, 4.0), 1.5),
        holder=mm(rng.uniform(5.0, 8.0), 2.0),
        couch_gap=mm(3.0, 1.0),
        scale=s,
        fine=fine,
    )


def _draw_intensity(rng: np.random.Generator) -> _Intensity:
    """Draw the tissue HU and artefact amplitudes of one patient."""
    grey = rng.uniform(33.0, 38.0)
    fluid = rng.uniform(3.0, 8.0)
    lut = np.zeros(len(Tissue), dtype=_FLOAT)
    lut[Tissue.AIR] = -1000.0
    lut[Tissue.SCALP] = rng.uniform(35.0, 50.0)
    lut[Tissue.GREY] = grey
    lut[Tissue.WHITE] = grey - rng.uniform(8.0, 11.0)
    lut[Tissue.VENTRICLE] = fluid
    lut[Tissue.CSF] = fluid
    lut[Tissue.HOLDER] = rng.uniform(100.0, 600.0)
    return _Intensity(
        lut=lut,
        diploe=rng.uniform(750.0, 1000.0),
        table=rng.uniform(1400.0, 1750.0),
        noise_sd=rng.uniform(4.0, 6.0),
        cupping=rng.uniform(2.0, 4.0),
        base_shading=rng.uniform(2.0, 4.0),
    )


class _SmoothField:
    """Unit-variance smooth Gaussian random field, evaluated slab by slab.

    A lattice of random coefficients (spacing ``length_mm``) blurred by separable Gaussian
    weights. Contracting x and y once leaves ``(nodes_z, Y, X)``, and each slab is one
    matrix product, so no full-volume float array is ever built.
    """

    def __init__(
        self, rng: np.random.Generator, axes_mm: tuple[np.ndarray, ...], length_mm: float
    ) -> None:
        wz, wy, wx = (_lattice_weights(a, length_mm) for a in axes_mm)
        coeffs = rng.standard_normal((wz.shape[1], wy.shape[1], wx.shape[1]), dtype=_FLOAT)
        partial = np.tensordot(coeffs, wx, axes=([2], [1]))  # (nz, ny, X)
        self._partial = np.ascontiguousarray(np.einsum("yj,ijx->iyx", wy, partial))
        self._wz = wz

    def slab(self, z0: int, z1: int) -> np.ndarray:
        """The field on slices ``z0:z1`` as ``(z1 - z0, Y, X)`` float32."""
        return np.tensordot(self._wz[z0:z1], self._partial, axes=1)


def _lattice_weights(coords: np.ndarray, length: float) -> np.ndarray:
    """Gaussian weights from points to lattice nodes, rows scaled to unit variance."""
    nodes = np.arange(coords[0] - 2 * length, coords[-1] + 2 * length + length, length)
    w = np.exp(-0.5 * ((coords[:, None] - nodes[None, :]) / length) ** 2).astype(_FLOAT)
    return w / np.sqrt((w * w).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class _Scene:
    """Everything a slab needs: anatomy, intensities, random fields and in-plane masks."""

    lay: _Layout
    inten: _Intensity
    spacing: tuple[float, float, float]
    axes: tuple[np.ndarray, ...]  # mm coordinates of slices, rows and columns
    fields: dict[str, _SmoothField]
    plane: tuple[np.ndarray, np.ndarray]  # (Y, X) in-plane ellipsoid terms
    cradle: np.ndarray  # (Y, X) head rest cross-section
    couch: np.ndarray  # (Y, X) couch cross-section
    cupping: np.ndarray  # (Y, X) HU offset, darkest at the centre of the head


def _build_scene(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], rng: np.random.Generator
) -> _Scene:
    """Draw one patient's anatomy, intensities and smooth fields."""
    lay = _draw_layout(shape, spacing, rng)
    inten = _draw_intensity(rng)
    axes = tuple(
        np.arange(n, dtype=_FLOAT) * _FLOAT(d) for n, d in zip(shape, spacing, strict=True)
    )
    fields = {
        "outer": _SmoothField(rng, axes, 30.0 * lay.scale),
        "skull": _SmoothField(rng, axes, 20.0 * lay.scale),
        "density": _SmoothField(rng, axes, 12.0 * lay.scale),
        "cortex": _SmoothField(rng, axes, max(5.0 * lay.scale, 2 * lay.fine)),
        "shading": _SmoothField(rng, axes, 40.0 * lay.scale),
    }
    dy = (axes[1] - _FLOAT(lay.centre[1]))[:, None]
    dx = (axes[2] - _FLOAT(lay.centre[2]))[None, :]
    plane = _plane_terms(dy, dx, lay.axes)
    cradle, couch = _holder(
        dy, dx, lay, _ellipsoid_depth(np.zeros((1, 1), _FLOAT), plane, lay.axes)
    )
    centre = np.exp(-0.5 * ((dx / (0.5 * lay.axes[0])) ** 2 + (dy / (0.5 * lay.axes[1])) ** 2))
    cupping = (-inten.cupping * centre).astype(_FLOAT)
    return _Scene(lay, inten, spacing, axes, fields, plane, cradle, couch, cupping)


def _offsets(scene: _Scene, z0: int, z1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable mm offsets from the head centre: ``(n,1,1)``, ``(1,Y,1)``, ``(1,1,X)``."""
    z, y, x = scene.lay.centre
    return (
        (scene.axes[0][z0:z1] - _FLOAT(z))[:, None, None],
        (scene.axes[1] - _FLOAT(y))[None, :, None],
        (scene.axes[2] - _FLOAT(x))[None, None, :],
    )


def _above_base(dz: np.ndarray, dy: np.ndarray, lay: _Layout) -> np.ndarray:
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
    inner = depth - _FLOAT(lay.scalp)
    inner -= skull_t  # depth below the inner table
    above_base = _above_base(dz, dy, lay)
    brain = (inner >= 0) & (above_base >= 0)
    skull = (depth >= lay.scalp) & ~brain & ((inner < 0) | (above_base > -lay.plate))
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


def _ventricles(dz: np.ndarray, dy: np.ndarray, dx: np.ndarray, lay: _Layout) -> np.ndarray | None:
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
    dy: np.ndarray, dx: np.ndarray, lay: _Layout, plane_depth: np.ndarray
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


def _place_lesions(
    hu: np.ndarray,
    tissue: np.ndarray,
    scene: _Scene,
    rng: np.random.Generator,
    count: int,
    fraction: float,
) -> None:
    """Carve ``count`` infarcts, ``fraction`` of the volume in all, into grey/white matter."""
    if count == 0:
        return
    parenchyma = int(np.count_nonzero((tissue == Tissue.GREY) | (tissue == Tissue.WHITE)))
    total = min(fraction * tissue.size, 0.25 * parenchyma)
    shares = rng.dirichlet(np.full(count, 4.0))
    for share in shares:
        _place_one_lesion(hu, tissue, scene, rng, max(int(share * total), 1))


def _place_one_lesion(
    hu: np.ndarray,
    tissue: np.ndarray,
    scene: _Scene,
    rng: np.random.Generator,
    voxels: int,
) -> None:
    """One irregular blob: the ``voxels`` best-scoring parenchyma voxels near a centre.

    The score is an ellipsoidal falloff plus smooth noise, so the blob is compact but
    ragged, and it never leaves grey/white matter (it is clipped at the cortex surface and
    the ventricles, like a territorial infarct).
    """
    centre = _lesion_centre(tissue, scene, rng)
    spacing = np.array(scene.spacing)
    radius = (3.0 * voxels * float(np.prod(spacing)) / (4.0 * math.pi)) ** (1.0 / 3.0)
    semi = radius * rng.permutation([1.4, 1.0, 0.8])
    half = np.ceil(1.8 * semi.max() / spacing).astype(int)
    box = tuple(
        slice(max(c - h, 0), min(c + h + 1, n))
        for c, h, n in zip(centre, half, tissue.shape, strict=True)
    )
    local = tuple(a[b] for a, b in zip(scene.axes, box, strict=True))
    dz, dy, dx = (
        (a - axis[c]) / _FLOAT(e)
        for a, axis, c, e in zip(local, scene.axes, centre, semi, strict=True)
    )
    score = _SmoothField(rng, local, max(0.3 * radius, 2 * scene.lay.fine)).slab(0, dz.size)
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
    tissue: np.ndarray, scene: _Scene, rng: np.random.Generator
) -> tuple[int, int, int]:
    """A random grey/white voxel in the lateral part of one hemisphere (an MCA-like region)."""
    axes, lay = scene.axes, scene.lay
    side = rng.choice([-1.0, 1.0])
    dx = (axes[2] - lay.centre[2]) * side
    columns = np.flatnonzero((dx > 0.25 * lay.axes[0]) & (dx < 0.75 * lay.axes[0]))
    if columns.size == 0:
        columns = np.flatnonzero(dx > 0)
    xs = slice(columns[0], columns[-1] + 1)
    region = tissue[:, :, xs]
    candidates = np.flatnonzero((region == Tissue.GREY) | (region == Tissue.WHITE))
    if candidates.size == 0:
        candidates = np.flatnonzero((tissue == Tissue.GREY) | (tissue == Tissue.WHITE))
        xs = slice(0, tissue.shape[2])
    z, y, x = np.unravel_index(candidates[rng.integers(candidates.size)], tissue[:, :, xs].shape)
    return int(z), int(y), int(x + xs.start)

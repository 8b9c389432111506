"""Skull variants of the synthetic head: open skull base, craniectomy, thin vertex bone.

Why: a skull-removal rule must be judged on the heads a stroke unit scans, not only on
closed skulls (``docs/skull_removal.md``). Every head gets an open skull base: the
posterior bone ring of the lowest brain slices is open in the midline, where the
foramen magnum lets the brain stem out and the oblique occipital bone leaves an axial
slice without a closed ring. Options add a decompressive hemicraniectomy (a large
unilateral bone defect under a scalp flap, the swollen brain bulging through it; standard
care for large MCA infarcts, so the lesion lies beneath it), a vertex cap whose bone is
partial-volume averaged below the bone threshold, and a head holder pressed against the
scalp.

Geometry is in millimetres around the head centre (``dz`` up, ``dy`` posterior, ``dx``
towards high column indices), like ``phantom_anatomy``; every size scales with the head
and keeps a floor of a few voxels, so a 32^3 volume still shows each feature. All sizes
are drawn for every head whether or not a feature is on, so switching a feature on
changes nothing else about the head.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Anatomy", "Defect", "SkullLayout", "draw_skull_layout", "skull_base_window"]

_FLOAT = np.float32


@dataclass(frozen=True)
class Anatomy:
    """Optional anatomy of one synthetic head; every head has an open skull base.

    Attributes:
        craniectomy: a unilateral decompressive craniectomy over the lesion side.
        thin_vertex: the bone of the top slices of the skull below the bone threshold
            (partial volume), so the ring there is invisible at ``HU >= 80``.
        holder_contact: the head holder pressed against the scalp (no air gap).
    """

    craniectomy: bool = False
    thin_vertex: bool = False
    holder_contact: bool = False

    def names(self) -> list[str]:
        """The features of this head, ``"open_skull_base"`` first (for manifests)."""
        return ["open_skull_base", *(f.name for f in fields(self) if getattr(self, f.name))]


@dataclass(frozen=True)
class Defect:
    """A unilateral bone defect and the brain bulging through it.

    The defect is the part of the skull with ``side * dx > keep`` and ``q < 1``, where
    ``q = ((dz - centre[0]) / semi[0])**2 + ((dy - centre[1]) / semi[1])**2``. Inside it
    the brain fills the former bone and bulges ``bulge * (1 - q)`` mm beyond the outer
    table (tapered towards the midline), lifting the scalp flap that lies on it.

    Attributes:
        side: +1 for the high column indices, -1 for the low ones.
        centre: ``(dz, dy)`` mm of the defect centre from the head centre.
        semi: ``(z, y)`` semi-axes in mm.
        keep: mm of bone kept beside the midline (over the sagittal sinus).
        bulge: mm the brain rises beyond the former outer table at the centre.
        taper: mm beside ``keep`` over which the bulge grows to full height.
    """

    side: float
    centre: tuple[float, float]
    semi: tuple[float, float]
    keep: float
    bulge: float
    taper: float

    def q(self, dz: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Elliptic coordinate in the sagittal projection: < 1 inside the defect."""
        a = (dz - _FLOAT(self.centre[0])) / _FLOAT(self.semi[0])
        b = (dy - _FLOAT(self.centre[1])) / _FLOAT(self.semi[1])
        return a * a + b * b

    def z_range(self) -> tuple[float, float]:
        """Lowest and highest ``dz`` (mm) the defect reaches."""
        return self.centre[0] - self.semi[0], self.centre[0] + self.semi[0]

    def on_slab(
        self, dz: np.ndarray, dy: np.ndarray, dx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``(inside, lift)`` broadcast over the offsets: the defect mask and the mm the
        outer surface rises there; None when the slab ``dz`` lies above or below it."""
        low, high = self.z_range()
        if dz.max() < low or dz.min() > high:
            return None
        q = self.q(dz, dy)
        lateral = self.side * dx - _FLOAT(self.keep)
        inside = (q < 1) & (lateral > 0)
        ramp = np.clip(lateral / _FLOAT(self.taper), 0, 1)
        lift = np.where(inside, _FLOAT(self.bulge) * (1 - q) * ramp, _FLOAT(0))
        return inside, lift.astype(_FLOAT)


@dataclass(frozen=True)
class SkullLayout:
    """Sizes of the skull variants of one head (mm), drawn whether used or not.

    Attributes:
        window_half_width: half-width (left-right) of the posterior opening of the ring
            on the lowest slices.
        window_height: how far above the skull-base plate the posterior ring stays open.
        defect: the craniectomy, used when ``Anatomy.craniectomy``.
        vertex_thin: height of the skull cap (below the inner table's top) whose bone is
            averaged below the bone threshold, used when ``Anatomy.thin_vertex``.
        vertex_hu: mean HU of that bone (below 80).
        holder_press: mm the holder presses into the scalp's pad gap when
            ``Anatomy.holder_contact``.
    """

    window_half_width: float
    window_height: float
    defect: Defect
    vertex_thin: float
    vertex_hu: float
    holder_press: float


def draw_skull_layout(
    rng: np.random.Generator,
    scale: float,
    fine: float,
    half_axes: tuple[float, float, float],
) -> SkullLayout:
    """Draw the sizes of every skull variant for one head.

    Args:
        rng: the head's generator.
        scale: head size relative to the reference head.
        fine: the thinnest layer the grid resolves (mm); floors keep features visible.
        half_axes: the head's outer semi-axes ``(x, y, z above centre)`` in mm.
    """
    ax, ay, top = half_axes

    def mm(ref: float, floor_voxels: float) -> float:
        return max(ref * scale, floor_voxels * fine)

    side = float(rng.choice([-1.0, 1.0]))
    defect = Defect(
        side=side,
        centre=(rng.uniform(0.0, 0.15) * top, rng.uniform(-0.15, 0.0) * ay),
        semi=(rng.uniform(0.45, 0.55) * top, rng.uniform(0.65, 0.75) * ay),
        keep=rng.uniform(0.15, 0.25) * ax,
        bulge=mm(rng.uniform(4.0, 10.0), 1.0),
        taper=mm(15.0, 2.0),
    )
    return SkullLayout(
        window_half_width=mm(rng.uniform(12.0, 16.0), 1.5),
        window_height=mm(rng.uniform(10.0, 16.0), 3.0),
        defect=defect,
        vertex_thin=mm(rng.uniform(2.0, 4.0), 2.0),
        vertex_hu=float(rng.uniform(45.0, 70.0)),
        holder_press=mm(rng.uniform(1.0, 3.0), 1.0),
    )


def skull_base_window(
    dy: np.ndarray, dx: np.ndarray, above_base: np.ndarray, skull: SkullLayout
) -> np.ndarray:
    """Where the posterior ring of the lowest brain slices is open: the midline behind
    the brain, from the top of the skull-base plate to ``window_height`` above it. The
    plate stays whole, so the opening leads out of the head, not into the neck."""
    return (
        (np.abs(dx) < skull.window_half_width)
        & (dy > 0)
        & (above_base >= 0)
        & (above_base < skull.window_height)
    )

"""What varies between synthetic patients: head measurements and tissue intensities.

Why apart from rendering: these are the per-patient draws (sizes in mm, HU per tissue,
artefact amplitudes), taken from the generator before any voxel is rendered, in a fixed
order, so a rendering change cannot shift them. Sizes are laid out around a reference
head drawn for the paper's field of view and scaled isotropically to the volume's; thin
layers keep a floor of one to two voxels so a 32^3 volume still shows every tissue.
:mod:`~data_pipeline.synthetic.phantom_anatomy` renders them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from data_pipeline.synthetic.phantom_skull import Anatomy, SkullLayout, draw_skull_layout

__all__ = ["HeadLayout", "Intensity", "Tissue", "draw_intensity", "draw_layout"]

_REF_FOV_MM = (210.0, 240.0, 240.0)  # (z, y, x) field of view the reference head fills
_FLOAT = np.float32


class Tissue(IntEnum):
    """Tissue labels of the phantom (``HeadPhantom.tissue``)."""

    AIR = 0
    SCALP = 1  # scalp and other soft tissue (also below the skull base)
    SKULL = 2
    GREY = 3
    WHITE = 4
    VENTRICLE = 5
    LESION = 6
    HOLDER = 7  # head holder and couch
    CSF = 8  # thin subarachnoid layer between skull and cortex


@dataclass(frozen=True)
class HeadLayout:
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
    skull_var: SkullLayout


@dataclass(frozen=True)
class Intensity:
    """Per-patient HU of each tissue and the artefact amplitudes."""

    lut: np.ndarray  # mean HU by Tissue value
    diploe: float
    table: float
    noise_sd: float
    cupping: float
    base_shading: float


def draw_layout(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    anatomy: Anatomy,
) -> HeadLayout:
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
    axes = (72.0 * s * width, 88.0 * s * width, top, 160.0 * s)
    lay = HeadLayout(
        centre=centre,
        axes=axes,
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
        skull_var=draw_skull_layout(rng, s, fine, axes[:3]),
    )
    if anatomy.holder_contact:  # pressed into the pad: the rest reaches the scalp
        press = lay.skull_var.holder_press
        return replace(lay, holder_gap=-press, holder=lay.holder + press)
    return lay


def draw_intensity(rng: np.random.Generator) -> Intensity:
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
    return Intensity(
        lut=lut,
        diploe=rng.uniform(750.0, 1000.0),
        table=rng.uniform(1400.0, 1750.0),
        noise_sd=rng.uniform(4.0, 6.0),
        cupping=rng.uniform(2.0, 4.0),
        base_shading=rng.uniform(2.0, 4.0),
    )

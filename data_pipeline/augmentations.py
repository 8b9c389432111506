"""Training-time augmentations by name: TorchIO transforms whose parameters a sweep sets.

Why: Dobshik et al. (2023, section 3) tried random affine, flips, elastic deformation and
gamma and found each made results worse on their data, so all four are ablation switches,
off by default. Each is a part of kind ``"augmentation"`` whose params model lists the
TorchIO arguments it passes on, with TorchIO's defaults except where noted, so
``{flip: {axes: [0]}}`` reaches ``tio.RandomFlip(axes=(0,))`` and MLflow records what ran.

Axes are those of the arrays the samplers build, ``(Z, Y, X)``: 0 runs feet to head,
1 front to back, 2 left to right. ``p`` is TorchIO's probability of applying the
transform to a subject at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torchio as tio
from pydantic import BeforeValidator, Field

from data_pipeline.parts import Params, PartSpec, Registry, as_tuple

__all__ = ["AUGMENTATIONS", "compose_augmentations"]

AUGMENTATIONS: Registry[tio.Transform] = Registry("augmentation",
                                                  "builder(params) -> torchio Transform")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Axis = Annotated[int, Field(ge=0, le=2)]


class _Augmentation(Params):
    p: Probability = 1.0
    """Probability that the transform is applied to a subject (TorchIO ``p``; its default)."""


class FlipParams(_Augmentation):
    axes: Annotated[tuple[Axis, ...], BeforeValidator(as_tuple), Field(min_length=1)] = (2,)
    """Axes that may be flipped; ours: left-right (2) only, a brain's plausible mirror
    (TorchIO's default is axis 0, which would turn heads upside down)."""
    flip_probability: Probability = 0.5
    """Probability of flipping along each axis (TorchIO's default)."""


class AffineParams(_Augmentation):
    scales: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Scaling factors are drawn from ``[1 - scales, 1 + scales]`` (TorchIO's default)."""
    degrees: Annotated[float, Field(ge=0.0)] = 10.0
    """Rotation angles are drawn from ``[-degrees, degrees]`` about each axis (TorchIO's
    default)."""
    translation: Annotated[float, Field(ge=0.0)] = 0.0
    """Shifts in mm are drawn from ``[-translation, translation]`` along each axis
    (TorchIO's default)."""
    isotropic: bool = False
    """One scaling factor for all axes (TorchIO's default: no)."""


class ElasticParams(_Augmentation):
    num_control_points: Annotated[int, Field(ge=4)] = 7
    """Control points of the B-spline grid along each axis (TorchIO's default)."""
    max_displacement: Annotated[float, Field(gt=0.0)] = 7.5
    """Largest displacement of a control point, in mm (TorchIO's default)."""
    locked_borders: Annotated[int, Field(ge=0, le=2)] = 2
    """Rings of border control points kept still (TorchIO's default)."""


class GammaParams(_Augmentation):
    log_gamma: Annotated[float, Field(gt=0.0)] = 0.3
    """``log(gamma)`` is drawn from ``[-log_gamma, log_gamma]``; intensities in [0, 1]
    stay in [0, 1] (TorchIO's default)."""


@AUGMENTATIONS.register("flip", params=FlipParams)
def flip(params: FlipParams) -> tio.Transform:
    """Random flips (TorchIO ``RandomFlip``)."""
    return tio.RandomFlip(axes=params.axes, flip_probability=params.flip_probability, p=params.p)


@AUGMENTATIONS.register("affine", params=AffineParams)
def affine(params: AffineParams) -> tio.Transform:
    """Random scaling and rotation (TorchIO ``RandomAffine``)."""
    return tio.RandomAffine(scales=params.scales, degrees=params.degrees,
                            translation=params.translation, isotropic=params.isotropic,
                            p=params.p)


@AUGMENTATIONS.register("elastic", params=ElasticParams)
def elastic(params: ElasticParams) -> tio.Transform:
    """Random elastic deformation (TorchIO ``RandomElasticDeformation``)."""
    return tio.RandomElasticDeformation(
        num_control_points=params.num_control_points, max_displacement=params.max_displacement,
        locked_borders=params.locked_borders, p=params.p)


@AUGMENTATIONS.register("gamma", params=GammaParams)
def gamma(params: GammaParams) -> tio.Transform:
    """Random gamma change of intensities (TorchIO ``RandomGamma``)."""
    return tio.RandomGamma(log_gamma=params.log_gamma, p=params.p)


def compose_augmentations(specs: Sequence[PartSpec]) -> tio.Transform | None:
    """The augmentations in order as one TorchIO transform, or ``None`` for none."""
    transforms = [AUGMENTATIONS.create(spec) for spec in specs]
    return tio.Compose(transforms) if transforms else None

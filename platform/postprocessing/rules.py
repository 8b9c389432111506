"""Post-processing of a predicted lesion mask, as registered parts (kind ``postprocessing``).

Why parts: nnU-Net (Isensee et al. 2021, doi:10.1038/s41592-020-01008-z) tries removing
all but the largest connected component on the cross-validation predictions and keeps it
only where it raises the mean Dice; stroke pipelines also drop specks below a volume.
Each such rule is a name with its own parameters, listed in a variant's
``eval.postprocessing`` as candidates; :mod:`platform.postprocessing.choice` chooses among
them on the cross-validation predictions (never on a test cohort), and the choice is
applied to ensemble predictions on an external test cohort and in
``platform.postprocessing.predict``.
The paper applies none (an empty candidate list, the default).

A part is ``builder(params) -> apply(mask, spacing) -> mask``: ``mask`` is a ``(Z, Y, X)``
0/1 prediction on the scan's grid, ``spacing`` its voxel size ``(z, y, x)`` in mm, the
result a new uint8 mask. Components are found with ``cc3d`` at the part's connectivity
(26 by default, as :mod:`platform.evaluation.lesion_metrics` counts lesions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import cc3d
import numpy as np
from pydantic import Field

from data_pipeline.parts import Params, PartSpec, Registry

__all__ = ["POSTPROCESSING", "ComponentParams", "PostProcess", "SmallComponentParams",
           "apply_postprocessing", "postprocessing_spec"]

PostProcess = Callable[[np.ndarray, Sequence[float]], np.ndarray]
POSTPROCESSING: Registry[PostProcess] = Registry(
    "postprocessing", "builder(params) -> callable(mask (Z, Y, X) 0/1, spacing (z, y, x) mm) "
    "-> mask uint8")


class ComponentParams(Params):
    """How lesion voxels group into components."""

    connectivity: Literal[6, 18, 26] = 26
    """Neighbours that join a component: faces (6), + edges (18), + corners (26; as ISLES
    counts lesions, ours)."""


class SmallComponentParams(ComponentParams):
    """Drop predicted components below a volume."""

    min_volume_ml: Annotated[float, Field(gt=0.0)] = 0.1
    """Smallest component kept, in mL (ours: 0.1 mL = 100 mm^3, below which a component
    on non-contrast CT is mostly noise; tune it as a candidate list)."""


def _components(mask: np.ndarray,
                connectivity: Literal[6, 18, 26]) -> tuple[np.ndarray, np.ndarray]:
    """Component labels of ``mask`` and each label's voxel count (index 0: background)."""
    labels = cc3d.connected_components(np.asarray(mask) != 0, connectivity=connectivity)
    return labels, np.bincount(labels.ravel())


@POSTPROCESSING.register("remove_small_components", params=SmallComponentParams)
def remove_small_components(params: SmallComponentParams) -> PostProcess:
    """Remove predicted lesion components smaller than ``min_volume_ml``."""

    def apply(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
        labels, sizes = _components(mask, params.connectivity)
        voxel_ml = math.prod(float(s) for s in spacing) / 1000.0
        keep = sizes * voxel_ml >= params.min_volume_ml
        keep[0] = False
        return keep[labels].astype(np.uint8)

    return apply


@POSTPROCESSING.register("keep_largest_component", params=ComponentParams)
def keep_largest_component(params: ComponentParams) -> PostProcess:
    """Keep only the largest predicted lesion component (nnU-Net's candidate)."""

    def apply(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
        labels, sizes = _components(mask, params.connectivity)
        if sizes.size < 2:
            return np.zeros(np.shape(mask), dtype=np.uint8)
        return (labels == 1 + int(np.argmax(sizes[1:]))).astype(np.uint8)

    return apply


def postprocessing_spec(dumped: Mapping[str, Any]) -> PartSpec:
    """The part a ``{name, **params}`` mapping names (:meth:`PartSpec.dump`'s form, as
    ``postprocessing.json`` and an ensemble model store it)."""
    params = {k: v for k, v in dumped.items() if k != "name"}
    return POSTPROCESSING.spec(str(dumped["name"]), params)


def apply_postprocessing(spec: PartSpec | None, mask: np.ndarray,
                         spacing: Sequence[float]) -> np.ndarray:
    """``mask`` after the post-processing ``spec`` (unchanged, as uint8, for None)."""
    if spec is None:
        return np.asarray(mask, dtype=np.uint8)
    return POSTPROCESSING.create(spec)(mask, spacing)

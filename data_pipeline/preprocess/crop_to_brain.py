"""Step ``crop_to_brain``: crop to the brain's bounding box (paper section 2.1, step 5)."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.volume import Volume

__all__ = ["CropParams", "crop_to_brain"]


class CropParams(StepParams):
    """Parameters of ``crop_to_brain``."""

    margin: int = Field(default=0, ge=0)
    """Voxels kept around the brain on every side, clipped to the volume (paper: none)."""


@register_step("crop_to_brain", params=CropParams, requires=("remove_skull",))
def crop_to_brain(volume: Volume, params: CropParams) -> Volume:
    """Crop the image, lesion and brain to the brain's bounding box.

    The paper crops "to the non-zero region"; after standardization and min-max the
    background is no longer the only zero, so the box is taken from the brain mask
    (which is what the paper's non-zero region is without standardization).
    """
    if volume.brain_box is None:
        raise ValueError("crop_to_brain needs the brain mask: put remove_skull before it")
    z, y, x = volume.brain_box
    depth, rows, cols = volume.source.shape
    margin = params.margin
    grown = (_grow(z, depth, margin), _grow(y, rows, margin), _grow(x, cols, margin))
    return replace(volume, box=grown)


def _grow(span: tuple[int, int], size: int, margin: int) -> tuple[int, int]:
    """The half-open ``span`` widened by ``margin`` on each side, kept on an axis of ``size``."""
    a, b = span
    return max(a - margin, 0), min(b + margin, size)

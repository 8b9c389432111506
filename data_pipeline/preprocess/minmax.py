"""Step ``minmax``: rescale the volume to [0, 1] (paper section 2.1, step 4)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.volume import Volume

__all__ = ["MinMaxParams", "minmax"]


class MinMaxParams(StepParams):
    """The range is the volume's own minimum and maximum, background included."""

    background: Literal["zero", "scaled"] = "zero"
    """``scaled`` maps voxels outside the brain like every other voxel, the paper's literal
    formula (after standardization they land mid-grey, at ``-min / (max - min)``);
    ``zero`` (ours) keeps them at 0."""


@register_step(
    "minmax", params=MinMaxParams, after=("hu_window", "remove_skull", "standardize")
)
def minmax(volume: Volume, params: MinMaxParams) -> Volume:
    """Map the volume's minimum to 0 and its maximum to 1.

    The range is taken over the whole volume as in the paper, the background (0)
    included. After standardization the background lies inside the brain's range, so
    the paper's formula lifts it above 0 (and a literal "crop to non-zero" would then
    keep everything: ``crop_to_brain`` crops by the brain mask instead). By default the
    background is put back to 0, which equals min-max over the brain with the
    background set to 0 (the standardized brain spans both signs). Without
    standardization the background is the minimum and both choices agree.

    Raises:
        ValueError: the volume is constant, so it has no range to rescale.
    """
    low, high = volume.value_range()
    low, high = low * volume.scale + volume.offset, high * volume.scale + volume.offset
    if volume.has_background:
        low, high = min(low, 0.0), max(high, 0.0)
    if not high > low:
        raise ValueError(
            f"cannot min-max rescale a constant volume (every voxel is {low:g}); "
            f"check the HU window"
        )
    scaled = volume.with_affine(1.0 / (high - low), -low / (high - low))
    return replace(scaled, background=0.0) if params.background == "zero" else scaled

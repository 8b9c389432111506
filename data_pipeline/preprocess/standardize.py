"""Step ``standardize``: brain to mean 0 / sd 1, background to 0 (paper section 2.1, step 3)."""

from __future__ import annotations

from dataclasses import replace

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.volume import Volume

__all__ = ["StandardizeParams", "standardize"]


class StandardizeParams(StepParams):
    """``standardize`` takes no parameters: mean and sd come from the brain of each volume."""


@register_step(
    "standardize", params=StandardizeParams, after=("hu_window",), requires=("remove_skull",)
)
def standardize(volume: Volume, params: StandardizeParams) -> Volume:
    """Map the brain to mean 0 and standard deviation 1; voxels outside it stay 0.

    Per volume, as in the paper: "comparative intensity values in the brain area while
    invariant to the size of the background part". Cost: one gather of the brain
    voxels, shared with ``minmax``.

    Min-max is affine-invariant, so when ``minmax`` follows with its default
    ``background="zero"`` the output equals that of min-max alone over the brain (the
    windowed brain's minimum is 0 HU on real scans, and then it equals the run without
    this step too). The paper's gain from standardization comes from where min-max puts
    the background: choose ``minmax`` with ``background="scaled"`` to reproduce it.

    Raises:
        ValueError: the brain is constant (sd 0), so it cannot be standardized.
    """
    stats = volume.brain_stats()
    mean = stats.mean * volume.scale + volume.offset
    sd = stats.sd * volume.scale
    if not sd > 0:
        raise ValueError(
            f"cannot standardize: all {stats.count} brain voxels have the value {mean:g}; "
            f"check the HU window and the skull removal"
        )
    return replace(volume.with_affine(1.0 / sd, -mean / sd), background=0.0)

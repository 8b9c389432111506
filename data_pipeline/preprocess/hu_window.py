"""Step ``hu_window``: clip intensities to an HU window (paper section 2.1, step 1)."""

from __future__ import annotations

from dataclasses import replace

from pydantic import model_validator

from data_pipeline.preprocess.registry import StepParams, register_step
from data_pipeline.preprocess.volume import Volume

__all__ = ["HuWindowParams", "hu_window"]


class HuWindowParams(StepParams):
    """Window bounds in HU; the paper's [0, 80] keeps grey and white matter and the lesion."""

    low: float = 0.0
    """HU mapped to the window's bottom; air, fat and CSF below it become ``low`` (paper: 0)."""
    high: float = 80.0
    """HU mapped to the window's top; bone and the head holder become ``high`` (paper: 80)."""

    @model_validator(mode="after")
    def _ordered(self) -> HuWindowParams:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low} high={self.high}")
        return self


@register_step("hu_window", params=HuWindowParams)
def hu_window(volume: Volume, params: HuWindowParams) -> Volume:
    """Clip the HU to ``[low, high]``.

    The clip is recorded, not applied: it is folded into the single pass that writes the
    crop (see :class:`~data_pipeline.preprocess.volume.Volume`), so it costs nothing here.
    """
    return replace(volume, window=(params.low, params.high), _stats={})

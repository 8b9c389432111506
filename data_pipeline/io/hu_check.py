"""Refuse a CT volume that is not in Hounsfield units, naming the case and what it looks like.

Why: a DICOM series is in HU by definition (each slice's RescaleSlope/RescaleIntercept),
but a NIfTI, NRRD or MHA file holds whatever its writer stored. Public stroke sets and
nnU-Net datasets are usually raw HU, yet some are shared already windowed, normalised
to [0, 1], z-scored or as stored values without the rescale intercept. Every step of
this pipeline (the [0, 80] HU window, the bone and air thresholds of skull removal)
assumes HU, and on such a volume it silently produces an empty brain or a clipped
image, so the volume is refused where it enters, with the reason.

The rule (ours, deliberately loose so that no real head CT trips it): a head CT's field
of view holds air outside the head (about -1000 HU; padding values such as -1024 or
-3024 are lower still) and skull bone (above about 700 HU). So a volume is accepted
when its minimum is at most :data:`AIR_MAX_HU` and its maximum at least
:data:`BONE_MIN_HU`. The refusal says which pattern it matches: a tiny value range
(normalised), no negative values (stored values without the intercept), or a range
inside a soft-tissue window (already windowed).
"""

from __future__ import annotations

import numpy as np

from data_pipeline.errors import DataError

__all__ = ["AIR_MAX_HU", "BONE_MIN_HU", "check_hounsfield"]

AIR_MAX_HU = -500.0
"""The lowest value must be at most this: air is about -1000 HU (ours)."""
BONE_MIN_HU = 300.0
"""The highest value must be at least this: skull bone is above about 700 HU (ours)."""


def check_hounsfield(hu: np.ndarray, *, case_key: str, source: str) -> None:
    """Raise unless ``hu`` looks like a head CT in Hounsfield units.

    Args:
        hu: the volume ``(Z, Y, X)`` as read (after the file's own scaling).
        case_key: pseudonymous case key for the message.
        source: what was read, for the message (a file name, never a DICOM identifier).

    Raises:
        DataError: the value range has no air or no bone, naming the case, the file,
            the range found and the likely cause.
    """
    if hu.size == 0:
        raise DataError(case_key, f"{source} holds an empty volume")
    low, high = float(np.min(hu)), float(np.max(hu))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError(case_key, f"{source} holds NaN or infinite values; expected CT in HU")
    if low <= AIR_MAX_HU and high >= BONE_MIN_HU:
        return
    raise DataError(
        case_key,
        f"{source} is not in Hounsfield units: values {low:g} .. {high:g}, but a head CT "
        f"holds air (at most {AIR_MAX_HU:g} HU) and bone (at least {BONE_MIN_HU:g} HU); "
        f"{_likely_cause(low, high)}. Export the raw CT in HU (for nnU-Net datasets: the "
        "imagesTr file before any normalisation)",
    )


def _likely_cause(low: float, high: float) -> str:
    """Name the pattern a non-HU range matches."""
    if high - low <= 20.0:
        return "the range is that of a normalised image ([0, 1] or z-scores)"
    if low >= 0.0 and high > 1000.0:
        return ("no negative values: stored values without the rescale intercept "
                "(usually -1024)?")
    if low >= -200.0 and high <= 300.0:
        return "the range fits a soft-tissue window: already windowed or clipped?"
    return "the range matches no CT in HU"

"""Preprocessing of Dobshik et al. (2023), section 2.1, as named, switchable steps.

A sweep lists steps by name (:func:`step` makes a validated one); :func:`preprocess`
checks the list's order and runs it. Steps register themselves in their own modules, imported below:

=================  ===========================================================
``hu_window``      clip to [low, high] HU (default [0, 80])
``remove_skull``   brain = regions inside the skull's hull, open rings closed
                   (``method="hull"``), what bone encloses (``"enclosed"``) or
                   the paper's largest-component rule (``"paper"``)
``standardize``    brain to mean 0 / sd 1, background 0
``minmax``         volume to [0, 1], background kept at 0 (required)
``crop_to_brain``  crop image, lesion and brain mask to the brain's bounding box
=================  ===========================================================

Without ``remove_skull`` the brain mask is the whole volume, so the weighted sampler's
"healthy brain" label covers every voxel that is not lesion. No step resamples.
"""

from __future__ import annotations

from data_pipeline.parts import PartSpec
from data_pipeline.preprocess import (  # noqa: F401 - imported to register the steps
    crop_to_brain,
    hu_window,
    minmax,
    remove_skull,
    standardize,
)
from data_pipeline.preprocess.pipeline import preprocess
from data_pipeline.preprocess.registry import STEPS, canonical_steps, step, validate_steps
from data_pipeline.preprocess.volume import Box, LesionLoss, PreprocessedCase

__all__ = [
    "FINAL_STEPS",
    "NO_PREPROCESSING_STEPS",
    "PAPER_STEPS",
    "PREPROCESSING_STEPS",
    "STEPS",
    "Box",
    "LesionLoss",
    "PreprocessedCase",
    "canonical_steps",
    "preprocess",
    "step",
    "validate_steps",
]

FINAL_STEPS: tuple[PartSpec, ...] = (
    step("hu_window"),
    step("remove_skull"),
    step("standardize"),
    step("minmax", {"background": "scaled"}),
    step("crop_to_brain"),
)
"""The final model's steps (Table 1, last row), each at its default: the trial config's
default. Skull removal runs the ``hull`` method (ours: it keeps the brain under open bone
rings, where the paper's rule loses lesion); see :data:`PAPER_STEPS` for the literal list.

Min-max is the paper's literal one over the whole volume, so after standardization the
background (0) ends up mid-grey inside the crop. With ``background: "zero"``
standardization would change nothing (min-max undoes any affine map of the brain), and
Table 1's "+ standardization" row would measure nothing."""

PAPER_STEPS: tuple[PartSpec, ...] = tuple(
    step("remove_skull", {"method": "paper"}) if s.name == "remove_skull" else s
    for s in FINAL_STEPS)
"""The final model's preprocessing exactly as the paper describes it, its skull removal
rule included (largest connected component per slice)."""

PREPROCESSING_STEPS: tuple[PartSpec, ...] = tuple(s for s in PAPER_STEPS if s.name != "standardize")
"""Table 1, row 2 ("pre-processing"), literally: the paper's steps without standardization."""

NO_PREPROCESSING_STEPS: tuple[PartSpec, ...] = (step("hu_window"), step("minmax"))
"""Table 1, row 1 ("no pre-processing"): HU clip and min-max only."""

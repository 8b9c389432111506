"""One synthetic case drawn from the seed: phantom, grid, fake identity and file names.

Why apart from writing: a case is a pure function of ``(seed, index)`` and the cohort's
arguments, so the generator writes it and :func:`~data_pipeline.synthetic.generator.case_phantom`
draws it again to give tests the ground truth behind the files. Nothing here touches
the disk. Every draw has its own generator (``[seed, index, k]``), so one case never
shifts another's draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_pipeline.io.dicom_writer import derived_uid
from data_pipeline.io.geometry import Geometry
from data_pipeline.synthetic.phantom import Anatomy, HeadPhantom, make_head_phantom

__all__ = [
    "GENERATOR_VERSION",
    "PIXEL_SPACING_MM",
    "SLICE_STEP_MM",
    "DrawnCase",
    "anatomies",
    "draw_case",
    "small_cases",
]

GENERATOR_VERSION = 2  # 2: open skull base for every head, craniectomy cases
SLICE_STEP_MM = 0.5  # the paper's spacing between slices
PIXEL_SPACING_MM = (0.38, 0.5)
_FAMILY = ("DOE", "SMITH", "IVANOVA", "GARCIA", "NGUYEN", "MUELLER", "KOWALSKI", "OKAFOR")
_GIVEN = ("JANE", "JOHN", "MARIA", "OLEG", "AIKO", "CHIDI", "ANNA", "LUIS", "PETRA", "YUSUF")
_INSTITUTIONS = (
    ("ST ELSEWHERE GENERAL HOSPITAL", "12 Harbour Road, Springfield"),
    ("NORTHGATE STROKE CENTRE", "4 Mill Lane, Riverton"),
    ("LAKESIDE REGIONAL CLINIC", "88 Station Street, Lakeside"),
)


@dataclass(frozen=True)
class DrawnCase:
    """One drawn case, before anything is written."""

    key: str
    phantom: HeadPhantom
    geometry: Geometry
    identity: dict[str, str]
    names: list[str]  # shuffled file names, one per slice in position order


def small_cases(seed: int, patients: int, fraction: float) -> set[int]:
    """Indices of the cases that get small lesions."""
    order = np.random.default_rng([seed, patients]).permutation(patients)
    return {int(i) for i in order[: round(fraction * patients)]}


def anatomies(seed: int, patients: int, craniectomy_fraction: float) -> list[Anatomy]:
    """Each case's anatomy: ``round(fraction * patients)`` cases get a craniectomy."""
    order = np.random.default_rng([seed, patients, 2]).permutation(patients)
    chosen = {int(i) for i in order[: round(craniectomy_fraction * patients)]}
    return [Anatomy(craniectomy=i in chosen) for i in range(patients)]


def draw_case(
    seed: int, index: int, shape: tuple[int, int, int], small_lesions: bool, anatomy: Anatomy
) -> DrawnCase:
    """Draw case ``index``: its phantom, grid, identifiers and file names."""
    key = f"case-{index:03d}"
    rng = np.random.default_rng([seed, index, 1])  # headers, spacing and file names
    pixel = round(float(rng.uniform(*PIXEL_SPACING_MM)), 4)
    spacing = (SLICE_STEP_MM, pixel, pixel)
    phantom = make_head_phantom(
        shape,
        spacing,
        np.random.default_rng([seed, index, 0]),
        small_lesions=small_lesions,
        anatomy=anatomy,
    )
    # Centre the grid on the scanner axis, like a reconstructed field of view.
    origin = (
        round(-pixel * (shape[2] - 1) / 2, 4),
        round(-pixel * (shape[1] - 1) / 2 + float(rng.uniform(-20.0, 20.0)), 4),
        round(float(rng.uniform(-150.0, -50.0)), 4),
    )
    identity = _draw_identity(rng, seed, key)
    names = [f"{n:012x}.dcm" for n in rng.choice(16**12, size=shape[0], replace=False)]
    return DrawnCase(key, phantom, Geometry(spacing=spacing, origin=origin), identity, names)


def _draw_identity(rng: np.random.Generator, seed: int, key: str) -> dict[str, str]:
    """Fake identifiers of one patient and study, and the series UIDs.

    Every value named in ``generator.PHI_KEYWORDS`` is at least 8 characters long and distinctive,
    so a search for it in a log or artifact cannot match an unrelated number by chance.
    """
    institution, address = _INSTITUTIONS[int(rng.integers(len(_INSTITUTIONS)))]
    birth_year, study_year = int(rng.integers(1930, 1991)), int(rng.integers(2019, 2025))
    birth, study = (f"{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}" for _ in "ab")
    entropy = [f"synthetic-cohort-v{GENERATOR_VERSION}", str(seed), key]
    return {
        "PatientName": f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}",
        "PatientID": f"MRN{int(rng.integers(10**7, 10**8))}",
        "PatientBirthDate": f"{birth_year}{birth}",
        "PatientSex": str(rng.choice(["F", "M"])),
        "PatientAge": f"{study_year - birth_year:03d}Y",
        "InstitutionName": institution,
        "InstitutionAddress": address,
        "ReferringPhysicianName": f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}^^DR",
        "AccessionNumber": f"ACC{int(rng.integers(10**6, 10**7))}",
        "StudyID": f"ST{int(rng.integers(10**5, 10**6))}",
        "StudyDate": f"{study_year}{study}",
        "StudyTime": f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}00",
        "StationName": f"CTROOM{int(rng.integers(10, 100))}",
        "StudyInstanceUID": derived_uid([*entropy, "study"]),
        "SeriesInstanceUID": derived_uid([*entropy, "series"]),
        "FrameOfReferenceUID": derived_uid([*entropy, "frame"]),
    }

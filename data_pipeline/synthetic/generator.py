"""Write a synthetic cohort: DICOM CT series, lesion masks and ``cohort.yaml``.

Why: every test, demo and benchmark of the platform runs on data shaped like the
paper's (Dobshik et al. 2023, arXiv:2301.06793: 512 x 512 slices, 0.5 mm between
slices, pixel spacing 0.38-0.5 mm) without any patient data in the repository. Each
case is a real CT Image Storage series as a scanner exports it: one file per slice
under shuffled names, stored values ``HU + 1024`` with ``RescaleIntercept -1024``, and
fake but realistic identifiers (name, MRN, birth date, institution, accession number,
dates, UIDs) that exist only inside the DICOM headers, so later stages can prove that
none of them leaks. The lesion mask is written on the exact CT grid.

Every head has an open skull base (the foramen magnum opens the bone ring of the lowest
brain slices); a share of the patients has had a decompressive hemicraniectomy, with the
lesion beneath the bone defect (``data_pipeline.synthetic.phantom_skull``). ``cohort.yaml`` records
each case's anatomy under ``generator.anatomy`` (feature names only, nothing about the
fake patient).

Output is a pure function of the arguments: two runs with the same seed give
byte-identical files (UIDs are derived from the seed). Each case is drawn by
:mod:`~data_pipeline.synthetic.case_draw`; this module runs the cohort loop, says what
the headers hold and writes the manifest; the files are written by ``io``
(:func:`~data_pipeline.io.dicom_writer.write_ct_series`,
:func:`~data_pipeline.io.labels.write_mask`).

Layout (``docs/ARCHITECTURE.md``)::

    OUT/cohort.yaml            version 1, generator info (anatomy per case), cases
                               [{key, dicom, mask}]
    OUT/case-000/dicom/*.dcm   one slice per file, random hexadecimal names
    OUT/case-000/lesion.nii.gz (or lesion.nrrd)

Command line::

    python -m data_pipeline.synthetic OUT --patients 3 --shape 48,48,48 --seed 0
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import yaml
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data_pipeline.io.dicom import header_values
from data_pipeline.io.dicom_writer import write_ct_series
from data_pipeline.io.labels import write_mask
from data_pipeline.synthetic.case_draw import (
    GENERATOR_VERSION,
    DrawnCase,
    anatomies,
    draw_case,
    small_cases,
)
from data_pipeline.synthetic.phantom import Anatomy, HeadPhantom

__all__ = [
    "GENERATOR_VERSION",
    "PHI_KEYWORDS",
    "case_phantom",
    "generate_cohort",
    "main",
    "phi_values",
]

logger = logging.getLogger(__name__)

SLICE_THICKNESS_MM = 1.0
# Header elements that identify a patient or study; phi_values collects their values.
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StationName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "SOPInstanceUID",
)
_MASK_FILES = {"nifti": "lesion.nii.gz", "nrrd": "lesion.nrrd"}
_MIN_SIDE = 32  # make_head_phantom's smallest side


def generate_cohort(
    out_dir: Path,
    patients: int,
    shape: Sequence[int],
    seed: int,
    *,
    mask_format: Literal["nifti", "nrrd"] = "nifti",
    small_lesion_fraction: float = 0.3,
    craniectomy_fraction: float = 0.2,
    progress: bool = True,
) -> Path:
    """Write ``patients`` synthetic cases and their manifest under ``out_dir``.

    Cost: the phantom dominates; a 405 x 512 x 512 case takes seconds to generate and
    about 0.2 GB on disk.

    Args:
        out_dir: a new or empty folder (created with its parents); refusing a non-empty
            one keeps stale slices from mixing into a new series.
        patients: number of cases, at least 1.
        shape: ``(Z, Y, X)`` voxels per case, each at least 32.
        seed: fixes every random draw, hence every output byte.
        mask_format: ``"nifti"`` (``lesion.nii.gz``) or ``"nrrd"`` (``lesion.nrrd``).
        small_lesion_fraction: share of cases with small lesions (0.05-0.3 % of the
            volume instead of 0.3-1.5 %).
        craniectomy_fraction: share of cases with a decompressive hemicraniectomy over
            the lesion side, rounded to whole cases. The default 0.2 puts one in most
            small test cohorts; clinically the share is lower (large MCA infarcts).
        progress: show progress bars on stderr.

    Returns:
        The path of ``cohort.yaml``.

    Raises:
        ValueError: a bad count, shape, format or fraction, or a non-empty ``out_dir``.
        OSError: ``out_dir`` cannot be created or written.
    """
    shape = _checked_shape(shape)
    _check_arguments(patients, mask_format, small_lesion_fraction, craniectomy_fraction)
    out_dir = _prepared_dir(Path(out_dir))
    small = small_cases(seed, patients, small_lesion_fraction)
    drawn_anatomies = anatomies(seed, patients, craniectomy_fraction)
    cases = []
    for index in tqdm(range(patients), desc="patients", unit="case", disable=not progress):
        case = draw_case(seed, index, shape, index in small, drawn_anatomies[index])
        _write_case(out_dir, case, seed, mask_format, progress)
        mask = f"{case.key}/{_MASK_FILES[mask_format]}"
        cases.append({"key": case.key, "dicom": f"{case.key}/dicom", "mask": mask})
    settings = {
        "seed": seed,
        "shape": list(shape),
        "mask_format": mask_format,
        "small_lesion_fraction": small_lesion_fraction,
        "craniectomy_fraction": craniectomy_fraction,
    }
    path = out_dir / "cohort.yaml"
    path.write_text(yaml.safe_dump(_manifest(settings, cases, drawn_anatomies), sort_keys=False))
    logger.info("wrote %d synthetic cases to %s", patients, out_dir)
    return path


def _manifest(
    settings: dict[str, object], cases: list[dict[str, str]], drawn: list[Anatomy]
) -> dict[str, object]:
    """``cohort.yaml``: version 1, how the generator was called, each case's anatomy, cases."""
    anatomy = {c["key"]: a.names() for c, a in zip(cases, drawn, strict=True)}
    generator = {"name": "data_pipeline.synthetic", "version": GENERATOR_VERSION, **settings,
                 "anatomy": anatomy}
    return {"version": 1, "generator": generator, "cases": cases}


def case_phantom(manifest: Path, key: str) -> HeadPhantom:
    """Regenerate the in-memory phantom of one written case, tissue map included.

    Why: the files hold HU and the lesion only; tests of skull removal or of the
    readers need the ground truth behind them. Costs one phantom draw.

    Raises:
        KeyError: ``key`` is not a case of the manifest.
        ValueError: the cohort was written by another generator version.
    """
    info = yaml.safe_load(Path(manifest).read_text())
    generator = info["generator"]
    if generator["version"] != GENERATOR_VERSION:
        raise ValueError(
            f"{manifest} was written by generator version {generator['version']}, this is "
            f"version {GENERATOR_VERSION}; regenerate the cohort"
        )
    keys = [case["key"] for case in info["cases"]]
    if key not in keys:
        raise KeyError(f"case {key!r} is not in {manifest}; its cases are {keys}")
    index, seed = keys.index(key), generator["seed"]
    small = small_cases(seed, len(keys), generator["small_lesion_fraction"])
    anatomy = anatomies(seed, len(keys), generator["craniectomy_fraction"])[index]
    return draw_case(seed, index, tuple(generator["shape"]), index in small, anatomy).phantom


def phi_values(path: Path) -> set[str]:
    """Every identifier written into the DICOM headers under ``path`` (a cohort or series).

    Use it to prove that no identifier reaches a log, an exception or an artifact.
    Reads headers only.
    """
    return header_values(sorted(Path(path).rglob("*.dcm")), PHI_KEYWORDS)


def _checked_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate ``shape`` where it enters, naming what was expected."""
    values = tuple(shape)
    if len(values) != 3 or not all(isinstance(n, (int, np.integer)) for n in values):
        raise ValueError(f"shape must be three integers Z,Y,X, got {values!r}")
    if any(n < _MIN_SIDE for n in values):
        raise ValueError(
            f"shape must be at least {_MIN_SIDE} voxels per axis (a smaller head has no "
            f"room for every tissue), got {values}"
        )
    return int(values[0]), int(values[1]), int(values[2])


def _check_arguments(
    patients: int, mask_format: str, small_lesion_fraction: float, craniectomy_fraction: float
) -> None:
    """Validate the scalar arguments of :func:`generate_cohort`."""
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise ValueError(f"patients must be an integer >= 1, got {patients!r}")
    if mask_format not in _MASK_FILES:
        raise ValueError(f"mask_format must be one of {sorted(_MASK_FILES)}, got {mask_format!r}")
    if not 0.0 <= small_lesion_fraction <= 1.0:
        raise ValueError(f"small_lesion_fraction must be in [0, 1], got {small_lesion_fraction}")
    if not 0.0 <= craniectomy_fraction <= 1.0:
        raise ValueError(f"craniectomy_fraction must be in [0, 1], got {craniectomy_fraction}")


def _prepared_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` and prove it is writable and empty."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise ValueError(f"output folder {out_dir} is not empty; pass a new or empty folder")
        probe = out_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(f"cannot write the output folder {out_dir}: {err.strerror}") from err
    return out_dir


def _write_case(
    out_dir: Path, case: DrawnCase, seed: int, mask_format: str, progress: bool
) -> None:
    """Write one case's series and mask."""
    dicom_dir = out_dir / case.key / "dicom"
    dicom_dir.mkdir(parents=True)
    write_ct_series(
        dicom_dir,
        case.phantom.hu,
        case.geometry,
        _series_header(case.identity),
        case.names,
        uid_entropy=[f"synthetic-cohort-v{GENERATOR_VERSION}", f"{seed}/{case.key}"],
        progress=progress,
    )
    write_mask(out_dir / case.key / _MASK_FILES[mask_format], case.phantom.lesion, case.geometry)
    lesion = 100 * case.phantom.lesion.mean()
    logger.info("%s: %d slices, lesion %.3f %% of voxels", case.key, len(case.names), lesion)


def _series_header(identity: dict[str, str]) -> dict[str, object]:
    """What every slice of a synthetic series says besides its pixels and grid.

    The fake identity, its dates repeated where a scanner repeats them, and the
    description of a plain head CT from a synthetic scanner.
    """
    header: dict[str, object] = dict(identity)
    for keyword in ("SeriesDate", "AcquisitionDate", "ContentDate"):
        header[keyword] = identity["StudyDate"]
    for keyword in ("SeriesTime", "AcquisitionTime", "ContentTime"):
        header[keyword] = identity["StudyTime"]
    header.update(
        Manufacturer="SYNTHETIC",
        ManufacturerModelName="data_pipeline.synthetic",
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        SeriesNumber=2,
        AcquisitionNumber=1,
        SeriesDescription="HEAD NCCT",
        BodyPartExamined="HEAD",
        PatientPosition="HFS",
        KVP="120",
        SliceThickness=SLICE_THICKNESS_MM,
        WindowCenter=40,
        WindowWidth=80,
    )
    return header


class _Parser(argparse.ArgumentParser):
    """argparse, but every usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _shape_arg(text: str) -> tuple[int, int, int]:
    """Parse ``Z,Y,X`` for argparse."""
    try:
        values = tuple(int(v) for v in text.split(","))
        return _checked_shape(values)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected Z,Y,X with three integers >= {_MIN_SIDE}, e.g. 48,48,48; got {text!r}"
        ) from err


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m data_pipeline.synthetic",
        description="Write a synthetic head-CT cohort (DICOM series, lesion masks, cohort.yaml).",
    )
    parser.add_argument("out_dir", type=Path, help="new or empty output folder")
    parser.add_argument("--patients", type=int, required=True, help="number of cases (>= 1)")
    parser.add_argument("--shape", type=_shape_arg, required=True, help="Z,Y,X voxels")
    parser.add_argument("--seed", type=int, required=True, help="fixes every output byte")
    parser.add_argument("--mask-format", choices=sorted(_MASK_FILES), default="nifti")
    parser.add_argument("--small-lesion-fraction", type=float, default=0.3)
    parser.add_argument("--craniectomy-fraction", type=float, default=0.2)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: returns 0, or 2 after a one-line error on stderr."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with logging_redirect_tqdm():
            manifest = generate_cohort(
                args.out_dir,
                args.patients,
                args.shape,
                args.seed,
                mask_format=args.mask_format,
                small_lesion_fraction=args.small_lesion_fraction,
                craniectomy_fraction=args.craniectomy_fraction,
                progress=not args.no_progress,
            )
    except (ValueError, OSError) as err:
        parser.error(str(err))  # exits with status 2
    print(manifest)
    return 0


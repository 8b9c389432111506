"""``python -m data_pipeline.inspect COHORT``: check every case of a cohort and summarise.

Why: before a sweep spends GPU hours, a lab wants to know which exports are broken.
This loads each case exactly as training will (``cohort.load_case``), one at a time so
that a cohort of full-size scans fits in memory, and prints one row per case:
pseudonymous key, slices, spacing, HU range, lesion voxels and percent, the share of the
lesion that the default preprocessing would take (:data:`INSPECT_STEPS`: skull removal
and the crop), and problems. A case is unusable exactly when a sweep with the default
preprocessing would refuse it (issue 28: the two used to disagree): it cannot be read
(the same readers and checks, the Hounsfield check included), preprocessing fails, or
it loses more of its lesion than ``--max-lesion-loss`` (the default of
``preprocessing.max_lesion_loss``, with the sweep's message).

Exit status: 0 when every case is usable, 2 when any case is unusable or the cohort
description itself cannot be read (bad input, as everywhere). ``--json`` prints the
same summary for machines.
Nothing here prints a DICOM identifier: rows hold only the case key and numbers, and
problems are ``DataError`` texts, which name files by position, never by UID.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from data_pipeline.cohort.cohort import Case, CaseRef, CohortError, iter_cases, load_cohort
from data_pipeline.cohort.pseudonym import SaltError, load_salt
from data_pipeline.defaults import DEFAULT_MAX_LESION_LOSS
from data_pipeline.errors import DataError
from data_pipeline.preprocess import FINAL_STEPS, preprocess

__all__ = ["INSPECT_STEPS", "CaseSummary", "main"]

INSPECT_STEPS = FINAL_STEPS
"""The default steps (skull removal by its default method, the crop): the lesion loss the
report shows is the one a sweep with default preprocessing would see."""


@dataclass(frozen=True)
class CaseSummary:
    """One row of the report: numbers and problems only, never an identifier.

    Attributes:
        key: pseudonymous case key.
        usable: whether ``load_case`` succeeded.
        problems: why it did not (``DataError`` texts).
        notes: non-fatal remarks of the readers.
        slices, shape, spacing_mm, hu_min, hu_max: the CT volume (None when unusable).
        lesion_voxels, lesion_percent: the lesion mask (None when unusable).
    """

    key: str
    usable: bool
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    slices: int | None = None
    shape: tuple[int, ...] | None = None
    spacing_mm: tuple[float, ...] | None = None
    hu_min: float | None = None
    hu_max: float | None = None
    lesion_voxels: int | None = None
    lesion_percent: float | None = None
    lesion_lost_percent: float | None = None

    @classmethod
    def of(cls, ref: CaseRef, result: Case | DataError,
           max_lesion_loss: float = DEFAULT_MAX_LESION_LOSS) -> CaseSummary:
        """Summarise a loaded case, or the error that stopped it; a case that loses more
        of its lesion than ``max_lesion_loss`` is unusable (the sweep's refusal)."""
        if isinstance(result, DataError):
            return cls(key=ref.key, usable=False, problems=(result.problem,))
        hu, lesion = result.hu, result.lesion
        voxels = int(lesion.sum(dtype=np.int64))
        try:
            loss = preprocess(hu, lesion, INSPECT_STEPS).lesion_loss
        except ValueError as err:
            return cls(key=ref.key, usable=False, problems=(f"preprocessing failed: {err}",))
        lost: float | None = loss.fraction
        refused = loss.problem(max_lesion_loss)
        return cls(
            key=result.key,
            usable=refused is None,
            problems=() if refused is None else (refused,),
            notes=result.notes,
            slices=int(hu.shape[0]),
            shape=tuple(int(s) for s in hu.shape),
            spacing_mm=tuple(round(s, 4) for s in result.geometry.spacing),
            hu_min=float(hu.min()),
            hu_max=float(hu.max()),
            lesion_voxels=voxels,
            lesion_percent=round(100.0 * voxels / lesion.size, 4),
            lesion_lost_percent=None if lost is None else round(100.0 * lost, 3),
        )

    def cells(self) -> list[str | Text]:
        """The table cells of this row (``Text`` so that brackets are not rich markup)."""
        if not self.usable and self.slices is None:
            return [Text(self.key), "-", "-", "-", "-", "-", "-",
                    Text("UNUSABLE (below)", style="red")]  # fmt: skip
        return [
            Text(self.key),
            str(self.slices),
            " x ".join(f"{s:g}" for s in self.spacing_mm or ()),
            f"{self.hu_min:.0f} .. {self.hu_max:.0f}",
            str(self.lesion_voxels),
            f"{self.lesion_percent:.3f}",
            Text(f"{self.lesion_lost_percent:.3f}",
                 style="red" if (self.lesion_lost_percent or 0) > 0 else ""),
            Text(self.note_text() if len(self.note_text()) <= _CELL_CHARS else "(below)"),
        ]

    def note_text(self) -> str:
        """The row's notes in one line (``-`` when none)."""
        return "; ".join(self.notes) or "-"

    def long_text(self) -> str | None:
        """What is printed below the table for this row: problems, or notes too long for
        a cell (a folded cell shows one word per line in a log), else ``None``."""
        if not self.usable:
            return "UNUSABLE: " + "; ".join(self.problems)
        return self.note_text() if len(self.note_text()) > _CELL_CHARS else None


_CELL_CHARS = 40
"""Longer problem or note texts go below the table, one line per case."""
_LOG_WIDTH = 200
"""Columns of the table when the output goes to a file or a pipe (rich assumes 80 there)."""

_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("case", "left"), ("slices", "right"), ("spacing z,y,x mm", "right"),
    ("HU range", "right"), ("lesion voxels", "right"), ("lesion %", "right"),
    ("lesion lost %", "right"), ("problems / notes", "left"),
)  # fmt: skip


def _table(rows: Sequence[CaseSummary]) -> Table:
    table = Table(title="cohort check")
    for name, justify in _COLUMNS:  # the key is never folded: it is what a reader looks up
        table.add_column(name, justify=justify, overflow="fold", no_wrap=name == "case")
    for row in rows:
        table.add_row(*row.cells())
    return table


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_pipeline.inspect",
        description="Load every case of a cohort, print a summary, exit 2 if any is unusable "
        "(as a sweep with the default preprocessing would refuse it).",
    )
    parser.add_argument("cohort", type=Path, help="cohort.yaml / .csv, or a cohort folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--keys",
        choices=("given", "patient_id"),
        default="given",
        help="case keys: manifest key / folder name, or keyed hash of PatientID",
    )
    parser.add_argument(
        "--salt-file",
        type=Path,
        default=None,
        help="salt for --keys patient_id (default: $STROKE_COHORT_SALT_FILE)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--max-lesion-loss", type=float, default=DEFAULT_MAX_LESION_LOSS,
        help="largest share of a lesion the default preprocessing may take (a sweep's "
        "preprocessing.max_lesion_loss; default %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; return the exit status (0 usable, 2 some unusable or a bad cohort)."""
    args = _parse(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    err = Console(stderr=True)
    try:
        salt = load_salt(args.salt_file) if args.keys == "patient_id" else None
        refs = load_cohort(args.cohort, keys=args.keys, salt=salt)
    except (CohortError, SaltError) as error:
        err.print(Text(f"cannot read the cohort: {error}", style="red"))
        return 2
    cases = iter_cases(refs, progress=not args.no_progress)
    rows = [CaseSummary.of(ref, result, args.max_lesion_loss) for ref, result in cases]
    bad = [r.key for r in rows if not r.usable]
    if args.json:
        report = {"cases": [asdict(r) for r in rows], "usable": len(rows) - len(bad),
                  "unusable": len(bad)}  # fmt: skip
        print(json.dumps(report, indent=2))
        return 2 if bad else 0
    out = Console() if Console().is_terminal else Console(width=_LOG_WIDTH)
    out.print(_table(rows))
    for row in rows:
        text = row.long_text()
        if text is not None:  # whole, one line per case, never folded
            out.print(f"{row.key}: {text}", markup=False, highlight=False, soft_wrap=True,
                      style="red" if not row.usable else None)
    verdict = f"{len(rows) - len(bad)} of {len(rows)} cases usable"
    if bad:
        verdict += f"; unusable: {', '.join(bad)}"
    out.print(Text(verdict, style="red" if bad else "green"))
    return 2 if bad else 0


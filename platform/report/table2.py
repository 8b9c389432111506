"""Table 2 from finished runs: per inference overlap, seconds per patient and the metrics.

Dobshik et al. (2023, arXiv:2301.06793), Table 2: the final model evaluated with 25 %,
50 % and 75 % patch overlap, with the seconds of inference per patient on one T4. This
module groups finished runs by their overlap, whatever produced them:

- the overlap is the run's param ``eval.overlap`` (an evaluation run) or
  ``eval.inference.overlap`` (a trial's resolved config, as ``sweeps/overlap.yaml``
  logs today: one variant per overlap);
- seconds per patient are the run's metric ``seconds_per_patient``, else ``seconds``
  (a trial's mean inference seconds over its test patients);
- the device is the run's tag ``device`` when there is one.

A sweep whose finished runs span fewer than two overlaps has no Table 2
(:func:`build_table2` returns ``None``). Like Table 1, each cell is the mean +- sample
sd over folds of the per-fold values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from platform.config.sweep import parse_reference
from platform.evaluation.metrics import DICE, METRIC_LABELS, TABLE1_METRICS
from platform.report.figures.tables import OverlapPoint
from platform.report.table1 import MetricSummary, fold_summary
from platform.report.tables import csv_text, markdown_table, number
from platform.tracking import TrialResult

__all__ = ["OVERLAP_PARAMS", "SECONDS_METRICS", "OverlapRow", "Table2", "build_table2",
           "overlap_of"]

OVERLAP_PARAMS = ("eval.overlap", "eval.inference.overlap")
SECONDS_METRICS = ("seconds_per_patient", "seconds")
SECONDS = "seconds_per_patient"


@dataclass(frozen=True)
class OverlapRow:
    """One overlap of Table 2: its runs' variants, folds and summaries over folds."""

    overlap: float
    variants: tuple[str, ...]
    folds_done: tuple[int, ...]
    seconds: MetricSummary
    summaries: Mapping[str, MetricSummary]
    reference: Mapping[str, str]

    def point(self) -> OverlapPoint:
        """This row as the Table 2 figure draws it."""
        paper_seconds = self.reference.get(SECONDS)
        paper_dice = self.reference.get(DICE)
        dice_mean, dice_sd = parse_reference(paper_dice) if paper_dice else (None, None)
        return OverlapPoint(
            overlap=self.overlap, seconds_mean=self.seconds.mean, seconds_sd=self.seconds.sd,
            dice_mean=self.summaries[DICE].mean, dice_sd=self.summaries[DICE].sd,
            n_folds=len(self.folds_done),
            paper_seconds=parse_reference(paper_seconds)[0] if paper_seconds else None,
            paper_dice=dice_mean, paper_dice_sd=dice_sd)


@dataclass(frozen=True)
class Table2:
    """The finished table; ``device`` names where the seconds were measured, if logged."""

    rows: tuple[OverlapRow, ...]
    folds: tuple[int, ...]
    metrics: tuple[str, ...]
    has_reference: bool
    device: str | None

    def header(self) -> list[str]:
        """Column titles shared by Markdown, LaTeX and the terminal."""
        where = f" ({self.device})" if self.device else ""
        header = ["Overlap", "Folds", f"Seconds per patient{where}"]
        if self.has_reference:
            header.append("Seconds (paper, T4)")
        for metric in self.metrics:
            header.append(METRIC_LABELS.get(metric, metric))
            if self.has_reference:
                header.append(f"{metric} (paper)")
        return header

    def row_cells(self, row: OverlapRow) -> list[str]:
        """The text cells of ``row`` under :meth:`header`."""
        cells = [f"{100 * row.overlap:g} %", f"{len(row.folds_done)}/{len(self.folds)}",
                 row.seconds.cell()]
        if self.has_reference:
            cells.append(row.reference.get(SECONDS, "-"))
        for metric in self.metrics:
            cells.append(row.summaries[metric].cell())
            if self.has_reference:
                cells.append(row.reference.get(metric, "-"))
        return cells

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        return markdown_table(self.header(), [self.row_cells(row) for row in self.rows])

    def to_csv(self) -> str:
        """One line per overlap with full-precision numbers (empty where undefined)."""
        header = ["overlap", "variants", "n_folds", "n_expected", "device",
                  f"{SECONDS}_mean", f"{SECONDS}_sd"]
        header += [f"{m}_{s}" for m in self.metrics for s in ("mean", "sd")]
        if self.has_reference:
            header += [f"paper_{SECONDS}", *(f"paper_{m}" for m in self.metrics)]
        lines = []
        for row in self.rows:
            line: list[object] = [repr(row.overlap), " ".join(row.variants),
                                  len(row.folds_done), len(self.folds), self.device or "",
                                  number(row.seconds.mean), number(row.seconds.sd)]
            for metric in self.metrics:
                line += [number(row.summaries[metric].mean), number(row.summaries[metric].sd)]
            if self.has_reference:
                line += [row.reference.get(SECONDS, ""),
                         *(row.reference.get(m, "") for m in self.metrics)]
            lines.append(line)
        return csv_text(header, lines)


def overlap_of(result: TrialResult) -> float | None:
    """The inference overlap a run evaluated with (see the module docstring), or None."""
    for key in OVERLAP_PARAMS:
        if key in result.params:
            try:
                return float(result.params[key])
            except ValueError:
                return None
    return None


def _seconds(result: TrialResult) -> float:
    for key in SECONDS_METRICS:
        if key in result.metrics:
            return result.metrics[key]
    return math.nan


def build_table2(results: Sequence[TrialResult], *, variants: Sequence[str],
                 folds: Sequence[int],
                 reference: Mapping[str, Mapping[str, str]] | None = None) -> Table2 | None:
    """Group the finished runs of ``variants`` on ``folds`` by overlap; None below two.

    Args:
        reference: the paper's values per variant (``{variant: {metric: "m +- sd"}}``);
            a row takes those of its first variant that has any.
    """
    groups: dict[float, list[TrialResult]] = defaultdict(list)
    for result in results:
        overlap = overlap_of(result)
        if (result.status == "FINISHED" and result.variant in variants
                and result.fold in folds and overlap is not None):
            groups[overlap].append(result)
    if len(groups) < 2:
        return None
    rows = []
    for overlap, runs in sorted(groups.items()):
        names = tuple(dict.fromkeys(r.variant for r in runs))
        paper = next((dict(reference[v]) for v in names if reference and reference.get(v)), {})
        rows.append(OverlapRow(
            overlap=overlap, variants=names, folds_done=tuple(sorted({r.fold for r in runs})),
            seconds=fold_summary([_seconds(r) for r in runs]),
            summaries={m: fold_summary([r.metrics.get(m, math.nan) for r in runs])
                       for m in TABLE1_METRICS},
            reference=paper))
    devices = {r.tags.get("device") for runs in groups.values() for r in runs}
    device = devices.pop() if len(devices) == 1 else None
    return Table2(rows=tuple(rows), folds=tuple(folds), metrics=tuple(TABLE1_METRICS),
                  has_reference=any(row.reference for row in rows), device=device)


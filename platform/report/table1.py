"""Table 1 from finished trials: mean +- sd over folds per variant, with paired tests.

Reproduces the layout of Dobshik et al. (2023), Table 1 (arXiv:2301.06793, Computer
Optics): for every variant of an ablation, Dice, sensitivity, specificity and
precision as mean +- standard deviation over the cross-validation folds. The additions
make the reproduction auditable:

- missing folds are listed with their reason (``failed: <reason>``, ``not run``) and are
  excluded from the mean, never averaged away unseen;
- a Wilcoxon signed-rank test, paired by case key over every patient both variants
  evaluated, says whether each step of the ablation changed the per-patient Dice;
- the evidence of :mod:`platform.report.evidence` (issue 27): each row's paired effect
  with its bootstrap interval and corrected p, in a column and in words under the
  table, how often each row ranks first, lesion-size strata and, with ``train.seeds``,
  the seed count and the variance between folds and between seeds.

The fold value of a metric is the child run's metric of that name (the mean over the
fold's held-out patients; with several seeds, the mean over the seeds' runs); the
table's sd is the sample sd (``ddof=1``) over folds, the usual choice for k-fold
results, and "n/a" when fewer than two folds finished.

This module reads :class:`platform.tracking.TrialResult` only; it never imports training.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

from platform.evaluation.metrics import (
    DICE,
    METRIC_LABELS,
    PATCHES_PER_PATIENT,
    SECONDS_PER_PATIENT,
    TABLE1_METRICS,
)
from platform.report.evidence import Evidence, EvidencePlan, build_effects, references
from platform.report.factorial import factorial_effects
from platform.report.fold_runs import FoldRuns, fold_outcome, group_runs, lesion_loss_notes
from platform.report.ranking import rank_stability
from platform.report.seeds import variance_split
from platform.report.statistics import (
    MetricSummary,
    PairedTest,
    fold_summary,
    paired_test,
    seed_mean,
    seed_mean_per_patient,
)
from platform.report.strata import STRATA_METRICS, lesion_strata, reference_volumes
from platform.report.tables import csv_text, markdown_table, number
from platform.tracking import TrialResult

__all__ = ["TIMING_METRICS", "MetricSummary", "PairedTest", "Table1", "VariantRow",
           "build_table1", "fold_summary", "render_table1"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantRow:
    """One row of Table 1. ``test`` is ``None`` for a row without a reference row (the
    first, unless it names one); ``seeds`` the training seeds of its finished runs."""

    variant: str
    summaries: Mapping[str, MetricSummary]
    folds_done: tuple[int, ...]
    missing: Mapping[int, str]
    test: PairedTest | None
    reference: Mapping[str, str]
    seeds: tuple[int, ...] = (0,)

    def missing_text(self) -> str:
        """``"fold 2: failed: <reason>; fold 3: not run"`` (empty when none is missing)."""
        return "; ".join(f"fold {fold}: {why}" for fold, why in self.missing.items())


@dataclass(frozen=True)
class Table1:
    """The finished table; render with :func:`render_table1` or the ``to_*`` methods."""

    rows: tuple[VariantRow, ...]
    folds: tuple[int, ...]
    metrics: tuple[str, ...]
    has_reference: bool
    notes: tuple[str, ...] = ()
    """Lines printed under the table: what each metric counts, and every patient whose
    lesion preprocessing cut (counted as missed, never dropped)."""
    title: str = "Table 1: mean +- sd over folds"
    devices: tuple[str, ...] = ()
    """What ran the inference whose seconds the table shows (Table 2 only)."""
    evidence: Evidence | None = None
    """Each row's paired effects against its reference row (:mod:`platform.report.evidence`)."""

    @property
    def lines_under(self) -> tuple[str, ...]:
        """What is printed under the table: the effects in words, then the notes."""
        return (*(self.evidence.words() if self.evidence else ()), *self.notes)

    @property
    def repeated_seeds(self) -> bool:
        """Whether some row has more than one training seed (the table shows ``Seeds``)."""
        return any(len(row.seeds) > 1 for row in self.rows)

    @property
    def versus_word(self) -> str:
        """``previous`` when every row is compared with the row above, else ``reference``."""
        names = [row.variant for row in self.rows]
        previous = all(row.test is None or names.index(row.test.versus) == index - 1
                       for index, row in enumerate(self.rows))
        return "previous" if previous else "reference"

    @property
    def complete(self) -> bool:
        """Whether every variant finished every expected fold."""
        return all(not row.missing for row in self.rows)

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table (cells as :meth:`MetricSummary.cell`)."""
        return markdown_table(self.header(), [self.row_cells(row) for row in self.rows],
                              self.lines_under)

    def to_csv(self) -> str:
        """One line per variant with full-precision numbers (empty where undefined)."""
        header = ["variant", "n_folds", "n_expected"]
        header += [f"{m}_{s}" for m in self.metrics for s in ("mean", "sd")]
        if self.has_reference:
            header += [f"paper_{m}" for m in self.metrics]
        header += ["test_metric", "test_versus", "test_n", "test_p", "test_note"]
        if self.evidence is not None:
            header += self.evidence.csv_header()
        header += ["n_seeds", "missing"]
        lines = []
        for row in self.rows:
            line: list[object] = [row.variant, len(row.folds_done), len(self.folds)]
            for metric in self.metrics:
                summary = row.summaries[metric]
                line += [number(summary.mean), number(summary.sd)]
            if self.has_reference:
                line += [row.reference.get(m, "") for m in self.metrics]
            test = row.test
            line += ([test.metric, test.versus, test.n_pairs, number(test.p_value), test.note]
                     if test else ["", "", "", "", ""])
            if self.evidence is not None:
                line += self.evidence.csv_cells(row.variant)
            lines.append([*line, len(row.seeds), row.missing_text()])
        return csv_text(header, lines)

    def to_metrics(self) -> dict[str, float]:
        """MLflow metrics ``t1.<variant>.<metric>_mean`` / ``_sd``, ``t1.<variant>.n_folds``,
        ``t1.<variant>.wilcoxon_p_<metric>`` and the paired effects
        (:meth:`platform.report.evidence.Evidence.metrics`).

        Undefined values (nan, no test) are left out; characters MLflow refuses in a key
        (anything but letters, digits, ``_ - . / space``) become ``_``.
        """
        out: dict[str, float] = {}
        for row in self.rows:
            prefix = "t1." + re.sub(r"[^A-Za-z0-9_\-./ ]", "_", row.variant)
            out[f"{prefix}.n_folds"] = float(len(row.folds_done))
            out[f"{prefix}.n_seeds"] = float(len(row.seeds))
            for metric, summary in row.summaries.items():
                out[f"{prefix}.{metric}_mean"] = summary.mean
                out[f"{prefix}.{metric}_sd"] = summary.sd
            if row.test is not None and row.test.p_value is not None:
                out[f"{prefix}.wilcoxon_p_{row.test.metric}"] = row.test.p_value
            if self.evidence is not None:
                out.update({f"{prefix}.{k}": v for k, v in
                            self.evidence.metrics(row.variant).items()})
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def header(self) -> list[str]:
        """Column titles shared by the markdown and the terminal table."""
        header = ["Variant", "Folds", *(["Seeds"] if self.repeated_seeds else [])]
        for metric in self.metrics:
            label = METRIC_LABELS.get(metric, metric)
            if metric == SECONDS_PER_PATIENT and self.devices:
                label = f"{label} ({'; '.join(self.devices)})"
            header.append(label)
            if self.has_reference:
                header.append(f"{metric} (paper)")
        if self.evidence is not None:
            confidence = f"{100 * self.evidence.settings.confidence:g} %"
            header += [f"P(rank 1, {DICE})", f"Δ {DICE} [{confidence} CI]"]
        return [*header, f"Wilcoxon p ({DICE} vs {self.versus_word})", "Missing folds"]

    def row_cells(self, row: VariantRow) -> list[str]:
        """The text cells of ``row`` under :meth:`header`."""
        cells = [row.variant, f"{len(row.folds_done)}/{len(self.folds)}",
                 *([str(len(row.seeds))] if self.repeated_seeds else [])]
        for metric in self.metrics:
            cells.append(row.summaries[metric].cell())
            if self.has_reference:
                cells.append(row.reference.get(metric, "-"))
        if self.evidence is not None:
            effect, ranking = self.evidence.effect(row.variant), self.evidence.ranking
            cells += [ranking.cell(row.variant) if ranking is not None else "-",
                      effect.cell() if effect is not None else "-"]
        test = row.test.cell() if row.test is not None else "-"
        if self.evidence is not None and row.test is not None:
            test += self.evidence.adjusted_text(row.variant)
        return [*cells, test, row.missing_text() or "-"]


def build_table1(results: Sequence[TrialResult], *, variants: Sequence[str],
                 folds: Sequence[int],
                 reference: Mapping[str, Mapping[str, str]] | None = None,
                 notes: Sequence[str] = (), timing: bool = False,
                 evidence: EvidencePlan | None = None) -> Table1:
    """Summarise the trials of an ablation as Table 1.

    A fold's value (and a patient's, before pairing) is the mean over its seeds.

    Args:
        results: child runs, e.g. from :func:`platform.tracking.fetch_trial_results`.
        variants: row order; each row is compared with its reference row (the row
            before it unless ``evidence.compare_to`` names another).
        folds: the folds expected for every variant (absent ones are "not run").
        reference: the paper's values, ``{variant: {metric: "0.508 +- 0.037"}}``, shown
            beside ours.
        timing: Table 2's layout: seconds and patches per patient beside the metrics,
            with the device that ran the inference.
        evidence: the statistics' settings and chosen references (default settings,
            previous rows, when None).

    Raises:
        ValueError: a variant is listed twice, two finished runs claim the same
            (variant, fold, seed), one variant evaluated a case key in two folds, or a
            reference row is not in the table.
    """
    if len(set(variants)) != len(variants):
        raise ValueError(f"variants must be unique, got {list(variants)}")
    plan = evidence or EvidencePlan()
    refs = references(variants, plan.compare_to)
    grouped = group_runs(results, variants, folds)
    metrics = (*TABLE1_METRICS, *TIMING_METRICS) if timing else TABLE1_METRICS
    outcomes = {variant: _outcomes(variant, folds, grouped) for variant in variants}
    values = {metric: {variant: seed_mean_per_patient(variant, done.values(), metric)
                       for variant, (done, _) in outcomes.items()} for metric in TABLE1_METRICS}
    rows: list[VariantRow] = []
    for variant, (done, missing) in outcomes.items():
        ref = refs.get(variant)
        rows.append(VariantRow(
            variant=variant,
            summaries={m: fold_summary([seed_mean([r.metrics.get(m, math.nan)
                                                   for r in by_seed.values()])
                                        for by_seed in done.values()]) for m in metrics},
            folds_done=tuple(done), missing=missing,
            test=None if ref is None else paired_test(values[DICE][variant], values[DICE][ref],
                                                      ref),
            reference=dict((reference or {}).get(variant, {})),
            seeds=tuple(sorted({s for by_seed in done.values() for s in by_seed})) or (0,),
        ))
    devices = sorted({r.device or "unknown" for runs in grouped.values() for r in runs
                      if r.status == "FINISHED"}) if timing else []
    standing = (*_STANDING_NOTES, *(_TIMING_NOTES if timing else ()))
    return Table1(rows=tuple(rows), folds=tuple(folds), metrics=tuple(metrics),
                  has_reference=reference is not None,
                  notes=(*standing, *notes, *lesion_loss_notes(variants, grouped)),
                  title=("Table 2" if timing else "Table 1") + ": mean +- sd over folds",
                  devices=tuple(devices),
                  evidence=_evidence(values, outcomes, refs, plan))


def _evidence(values: Mapping[str, Mapping[str, Mapping[str, float]]],
              outcomes: Mapping[str, tuple[dict[int, FoldRuns], dict[int, str]]],
              refs: Mapping[str, str], plan: EvidencePlan) -> Evidence:
    """Effects, ranking stability, lesion-size strata and seed variance of the rows."""
    variants, settings = list(outcomes), plan.settings
    extra = {metric: {variant: seed_mean_per_patient(variant, done.values(), metric)
                      for variant, (done, _) in outcomes.items()}
             for metric in STRATA_METRICS if metric not in values}
    rows = [row for done, _ in outcomes.values() for by_seed in done.values()
            for run in by_seed.values() for row in run.per_patient]
    volumes, unit = reference_volumes(rows)
    splits = [variance_split(variant, DICE, {f: {s: r.metrics.get(DICE, math.nan)
                                                 for s, r in by_seed.items()}
                                             for f, by_seed in done.items()})
              for variant, (done, _) in outcomes.items()]
    return Evidence(settings, build_effects(values, variants, refs, settings),
                    rank_stability(values[DICE], variants, settings, metric=DICE),
                    lesion_strata({**values, **extra}, volumes, unit, variants,
                                  settings.size_strata),
                    tuple(split for split in splits if split is not None),
                    factorial_effects(values[DICE], plan.factorial, settings, metric=DICE))


def _outcomes(variant: str, folds: Sequence[int],
              grouped: Mapping[tuple[str, int], Sequence[TrialResult]],
              ) -> tuple[dict[int, FoldRuns], dict[int, str]]:
    """The finished runs of each fold of ``variant`` (by seed) and why the others lack."""
    done: dict[int, FoldRuns] = {}
    missing: dict[int, str] = {}
    for fold in folds:
        runs, reason = fold_outcome(variant, fold, grouped.get((variant, fold), []))
        if runs:
            done[fold] = runs
        else:
            missing[fold] = reason
    return done, missing


TIMING_METRICS = (SECONDS_PER_PATIENT, PATCHES_PER_PATIENT)
"""Table 2's columns beside the metrics: the cost of one patient's tiled inference."""

_TIMING_NOTES = (
    "seconds per patient: tiled inference of one scan (loading, preprocessing and scoring "
    "excluded), on the device named in the header; every evaluation of a fold used the "
    "same trained network.",
)

_STANDING_NOTES = (
    "Every metric is taken per patient on the scan's original grid against its untouched "
    "mask; lesion voxels that preprocessing removed count as missed.",
    "specificity (whole scan): over every voxel of the scan (the paper's likely definition); "
    "specificity (brain): over the brain of the default skull removal, the same region for "
    "every variant.",
)


_LOG_WIDTH = 160
"""Columns of Table 1 when the terminal output goes to a file or a pipe."""
_ONE_LINE_WIDTH = 120
"""Narrower terminals show a cell's mean and sd on two lines."""


def render_table1(table: Table1, console: Console | None = None) -> Table:
    """Print ``table`` in the terminal with rich; return the rich ``Table`` printed.

    Compact, so that an 80-column terminal shows it in few lines: no vertical rules,
    ``±`` for ``+-`` (below :data:`_ONE_LINE_WIDTH` columns the sd goes on a second line
    of its cell, so that a row takes two lines, not three), no "Missing folds" column
    when every fold finished, and the Dice effect with its adjusted p in one column
    instead of the raw Wilcoxon p and the rank share, which the lines under the table
    say (the Markdown, CSV and LaTeX keep everything).
    """
    if console is None:
        # Piped to a log file rich assumes 80 columns and folds every "mean +- sd" cell.
        console = Console() if Console().is_terminal else Console(width=_LOG_WIDTH)
    plus_minus = " ± " if console.width >= _ONE_LINE_WIDTH else "\n± "
    header, rows = _terminal_cells(table)
    keep = [i for i, _ in enumerate(header)
            if not (i == len(header) - 1 and table.complete)]
    rich_table = Table(title=table.title.replace("+-", "±"), box=box.SIMPLE_HEAD,
                       row_styles=["", "dim"], pad_edge=False)
    for index in keep:
        rich_table.add_column(header[index], overflow="fold")
    for row, cells in zip(table.rows, rows, strict=True):
        rich_table.add_row(*(cells[i].replace(" +- ", plus_minus) for i in keep),
                           style="red" if row.missing else None)
    console.print(rich_table)
    for note in table.lines_under:
        console.print(f"- {note}", highlight=False, markup=False)
    return rich_table


def _terminal_cells(table: Table1) -> tuple[list[str], list[list[str]]]:
    """The header and cells the terminal shows (see :func:`render_table1`)."""
    header, rows = table.header(), [table.row_cells(row) for row in table.rows]
    evidence = table.evidence
    if evidence is None:
        return header, rows
    rank = header.index(f"P(rank 1, {DICE})")
    delta, raw = rank + 1, rank + 2
    corrected = evidence.settings.correction != "none"
    header[delta] += f", {evidence.correction} p" if corrected else ", p"
    for row, cells in zip(table.rows, rows, strict=True):
        effect = evidence.effect(row.variant)
        p_value = None if effect is None else (effect.p_adjusted if corrected
                                                else effect.p_value)
        if p_value is not None:
            cells[delta] += f" p={p_value:.2g}"
    return ([h for i, h in enumerate(header) if i not in (rank, raw)],
            [[c for i, c in enumerate(cells) if i not in (rank, raw)] for cells in rows])

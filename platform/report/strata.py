"""Per-patient metrics by lesion-size stratum: Dice on small infarcts behaves differently.

Metrics Reloaded (Maier-Hein et al., Nat. Methods 2024) asks for per-case distributions and
metrics chosen for small structures: Dice punishes a small lesion harshly and says
nothing about detection. So each variant's per-patient Dice (and, where the evaluation
logged issue 14's lesion-wise metrics, lesion F1 and detection rate) is summarised per
quantile stratum of the reference lesion volume (tertiles by default), as a second table.

The reference volume is read back from what every evaluation logs per patient: the
reference mask's voxels are ``tp + fn``; a voxel's volume follows from the absolute
volume difference, ``abs_volume_diff_ml = |fp - fn| x voxel ml``, in any row of the
patient where ``fp != fn``. Where no row allows that, volumes stay in voxels (and the
table says so). Patients without a lesion form their own stratum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from platform.evaluation.lesion_metrics import LESION_DETECTION, LESION_F1
from platform.evaluation.metrics import AVD, DICE, summarize
from platform.report.statistics import MetricSummary
from platform.report.tables import csv_text, markdown_table, number

__all__ = ["STRATA_METRICS", "LesionStrata", "Stratum", "lesion_strata", "reference_volumes"]

STRATA_METRICS = (DICE, LESION_F1, LESION_DETECTION)
"""Summarised per stratum, where the rows hold them."""


@dataclass(frozen=True)
class Stratum:
    """Patients whose reference lesion volume lies in ``[low, high)``."""

    label: str
    low: float
    high: float
    cases: tuple[str, ...]


@dataclass(frozen=True)
class LesionStrata:
    """Each variant's per-patient metrics summarised per lesion-size stratum."""

    unit: str
    """``ml``, or ``voxels`` where a voxel's volume could not be read back."""
    strata: tuple[Stratum, ...]
    metrics: tuple[str, ...]
    cells: Mapping[str, Mapping[str, Mapping[str, MetricSummary]]]
    """``{variant: {stratum label: {metric: mean +- sd over the stratum's patients}}}``."""

    def header(self) -> list[str]:
        """``Variant``, then one column per (stratum, metric)."""
        return ["Variant", *(f"{s.label}: {m}" for s in self.strata for m in self.metrics)]

    def rows(self) -> list[list[str]]:
        """Text cells: ``"0.512 +- 0.120 (n=5)"`` per (stratum, metric)."""
        return [[variant, *(_cell(by_stratum[s.label][m]) for s in self.strata
                            for m in self.metrics)] for variant, by_stratum in self.cells.items()]

    def notes(self) -> list[str]:
        """What the strata are."""
        return [f"Strata: quantile groups of the reference lesion volume ({self.unit}) over "
                f"the {sum(len(s.cases) for s in self.strata)} patients; cells: mean +- sd "
                "over the stratum's patients (each patient's mean over seeds)."]

    def to_markdown(self) -> str:
        """The strata table with its note."""
        return markdown_table(self.header(), self.rows(), self.notes())

    def to_csv(self) -> str:
        """One line per (variant, stratum): bounds, patients and each metric's mean, sd."""
        header = ["variant", "stratum", f"low_{self.unit}", f"high_{self.unit}", "n_patients"]
        header += [f"{m}_{s}" for m in self.metrics for s in ("mean", "sd", "n")]
        lines = []
        for variant, by_stratum in self.cells.items():
            for stratum in self.strata:
                line: list[object] = [variant, stratum.label, number(stratum.low),
                                      number(stratum.high), len(stratum.cases)]
                for metric in self.metrics:
                    summary = by_stratum[stratum.label][metric]
                    line += [number(summary.mean), number(summary.sd), summary.n]
                lines.append(line)
        return csv_text(header, lines)


def _cell(summary: MetricSummary) -> str:
    return "-" if summary.n == 0 else f"{summary.cell()} (n={summary.n})"


def reference_volumes(rows: Iterable[Mapping[str, object]]) -> tuple[dict[str, float], str]:
    """Each patient's reference lesion volume from per-patient rows, and its unit.

    Returns ``({}, "")`` when the rows lack the voxel counts (evaluations logged before
    the counts were); ``ml`` when a voxel's volume could be read back for every patient
    with a lesion, else ``voxels``.
    """
    voxels: dict[str, float] = {}
    voxel_ml: dict[str, float] = {}
    for row in rows:
        case = str(row["case"])
        tp, fn, fp, avd = (row.get(k) for k in ("tp", "fn", "fp", AVD))
        if not isinstance(tp, float | int) or not isinstance(fn, float | int):
            continue
        voxels.setdefault(case, float(tp) + float(fn))
        if isinstance(fp, float | int) and isinstance(avd, float | int) and fp != fn:
            voxel_ml.setdefault(case, float(avd) / abs(float(fp) - float(fn)))
    if not voxels:
        return {}, ""
    if all(case in voxel_ml for case, n in voxels.items() if n > 0):
        return {case: n * voxel_ml.get(case, 0.0) for case, n in voxels.items()}, "ml"
    return voxels, "voxels"


def _strata(volumes: Mapping[str, float], n_strata: int, unit: str) -> tuple[Stratum, ...]:
    lesion = {c: v for c, v in volumes.items() if v > 0}
    empty = tuple(sorted(c for c in volumes if c not in lesion))
    out = [Stratum("no lesion", 0.0, 0.0, empty)] if empty else []
    if not lesion:
        return tuple(out)
    edges = np.quantile(np.array(list(lesion.values())), np.linspace(0, 1, n_strata + 1))
    names = {3: ("small", "medium", "large")}.get(n_strata, tuple(
        f"Q{i + 1}" for i in range(n_strata)))
    for index in range(n_strata):
        low, high = float(edges[index]), float(edges[index + 1])
        last = index == n_strata - 1
        cases = tuple(sorted(c for c, v in lesion.items()
                             if low <= v and (v < high or (last and v <= high))))
        shown = f"{low:.3g}-{high:.3g} {unit}"
        out.append(Stratum(f"{names[index]} ({shown})", low, math.inf if last else high,
                           cases))
    return tuple(s for s in out if s.cases)


def lesion_strata(values: Mapping[str, Mapping[str, Mapping[str, float]]],
                  volumes: Mapping[str, float], unit: str, variants: Sequence[str],
                  n_strata: int) -> LesionStrata | None:
    """The strata table of ``variants`` (None without volumes or with ``n_strata`` 1).

    Args:
        values: ``{metric: {variant: {case: value}}}`` for the metrics of
            :data:`STRATA_METRICS` the rows hold.
        volumes: ``{case: reference lesion volume}`` in ``unit``.
    """
    if not volumes or n_strata < 2:
        return None
    strata = _strata(volumes, n_strata, unit)
    metrics = tuple(m for m in STRATA_METRICS if any(values.get(m, {}).values()))
    cells = {variant: {s.label: {m: _summary([values[m].get(variant, {}).get(c, math.nan)
                                              for c in s.cases]) for m in metrics}
                       for s in strata} for variant in variants}
    return LesionStrata(unit=unit, strata=strata, metrics=metrics, cells=cells)


def _summary(values: Sequence[float]) -> MetricSummary:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return MetricSummary(math.nan, math.nan, 0)
    mean, sd = summarize(finite)
    return MetricSummary(mean, sd, len(finite))

"""Tables and figures of a finished sweep, rebuilt from MLflow alone: ``python -m platform.report``.

::

    python -m platform.report quickstart                   # the newest 'quickstart' sweep
    python -m platform.report 9e1fb04ec0dc464f84436ce76bf8e9ab --out paper/   # a parent run

Nothing is rerun: the child runs' metrics and per-patient CSVs, the parent run's
resolved ``sweep.yaml`` and the table's layout (``table1_layout.json``: rows, folds, the
paper's values, notes, as the sweep printed it) are read back and the tables and figures
written into a folder:

- ``table1.md``, ``table1.csv``, ``table1.tex`` (booktabs) with each row's paired effect
  and corrected p, ``effects.md`` (every metric's effects in words), ``strata.md/.csv``
  (by lesion size; :mod:`platform.report.evidence`), and ``table2.*`` when the
  sweep evaluated two or more inference overlaps (:mod:`platform.report.table2`); the paper's
  numbers sit beside ours wherever the sweep file gives them (``reference``);
- ``figures/`` (PNG, SVG and the JSON of the numbers drawn, :mod:`platform.report.figures`):
  ``table1`` (bars), ``per_patient_dice``, ``effects_forest`` (each row's paired
  effects with their intervals), ``rank_stability`` (how often each variant ranks
  first, ... over resampled patients), ``lesion_strata`` (metrics by lesion-size
  stratum), ``table2``, and for searches
  ``search_history`` and ``parameter_importance``;
- ``trials/<variant>-fold<k>/learning_curves.*`` from each trial's metric history.

The sweep itself calls :func:`publish_sweep_tables` at its end, so the same files sit on
its parent run in the MLflow UI.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from platform.config import SweepConfig
from platform.config.designs import AblationConfig
from platform.config.evidence import EvidenceConfig
from platform.evaluation.metrics import DICE, TABLE1_METRICS
from platform.report.evidence import EvidencePlan
from platform.report.figures import save_figure
from platform.report.figures.curves import run_learning_curves
from platform.report.figures.effects import forest_figure
from platform.report.figures.ranking import ranking_figure
from platform.report.figures.strata import strata_figure
from platform.report.figures.tables import overlap_figure, per_patient_figure, table1_figure
from platform.report.fold_runs import seed_of
from platform.report.latex import booktabs
from platform.report.same_rows import same_row_notes
from platform.report.search import search_figures
from platform.report.table1 import Table1, build_table1
from platform.report.table2 import Table2, build_table2
from platform.tracking import (
    TrialResult,
    fetch_trial_results,
    find_sweep_parent,
    log_files,
    log_table,
    read_run_text,
    resolve_tracking_uri,
)
from platform.tracking.registry import register_best_model

__all__ = ["TableLayout", "build_report", "main", "publish_sweep_tables", "write_tables"]

logger = logging.getLogger(__name__)

LAYOUT_FILE = "table1_layout.json"
HEADLINE_SUFFIX = ".dice_mean"
"""The parent run's metrics: each variant's mean Dice (``t1.<variant>.dice_mean``), a
handful the runs table and charts can show; every other cell is in ``table1.json``/``.csv``
(issue 23: 94 ``t1.*`` metrics drowned the trials' Dice in the UI)."""
SEARCH_VARIANT = "search"


@dataclass(frozen=True)
class TableLayout:
    """What Table 1 is made of besides the runs: its rows, folds, paper values and notes."""

    variants: tuple[str, ...]
    folds: tuple[int, ...]
    reference: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    timing: bool = False
    """Table 2's columns (seconds and patches per patient): variants share trainings."""
    compare_to: dict[str, str] = field(default_factory=dict)
    """Rows compared with another row than the one above (``{variant: reference}``)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """The sweep's ``evidence`` settings (:class:`EvidenceConfig`; empty: the defaults)."""
    factorial: dict[str, list[str]] = field(default_factory=dict)
    """``{variant: components on}`` of a factorial ``ablation`` (empty otherwise)."""

    def table1(self, results: Sequence[TrialResult]) -> Table1:
        """Table 1 of ``results`` with this layout."""
        plan = EvidencePlan(EvidenceConfig.model_validate(self.evidence), self.compare_to,
                            self.factorial)
        notes = (*self.notes, *same_row_notes(results, self.variants))
        return build_table1(results, variants=self.variants, folds=self.folds,
                            reference=self.reference or None, notes=notes,
                            timing=self.timing, evidence=plan)

    @classmethod
    def of_sweep(cls, sweep: SweepConfig, variants: Sequence[str], folds: Sequence[int], *,
                 notes: Sequence[str] = (), timing: bool = False) -> TableLayout:
        """The layout of ``sweep``'s table over ``variants`` (the ones that ran) and
        ``folds``: the paper's values, each row's reference and the evidence settings."""
        reference = {v.name: dict(v.reference) for v in sweep.variants
                     if v.reference and v.name in variants}
        compare_to = {name: ref for name, ref in sweep.comparisons().items()
                      if name in variants and ref in variants}
        cells = sweep.factorial_cells()
        factorial = {v: list(on) for v, on in cells.items()} \
            if set(cells) <= set(variants) else {}
        return cls(variants=tuple(variants), folds=tuple(folds), reference=reference,
                   notes=tuple(notes), timing=timing, compare_to=compare_to,
                   evidence=sweep.evidence.model_dump(mode="json"), factorial=factorial)

    @classmethod
    def from_json(cls, text: str) -> TableLayout:
        """Read what :meth:`to_json` wrote (a layout of before issue 27 has no
        ``compare_to`` / ``evidence``: previous rows, default settings)."""
        data = json.loads(text)
        return cls(variants=tuple(data["variants"]), folds=tuple(data["folds"]),
                   reference=data.get("reference", {}), notes=tuple(data.get("notes", ())),
                   timing=bool(data.get("timing", False)),
                   compare_to=dict(data.get("compare_to", {})),
                   evidence=dict(data.get("evidence", {})),
                   factorial=dict(data.get("factorial", {})))

    def to_json(self) -> str:
        """The layout as JSON (logged on the parent run beside Table 1)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def infer_layout(sweep: Mapping[str, Any], results: Sequence[TrialResult]) -> TableLayout:
    """The layout of a sweep that logged none (older runs, an interrupted sweep).

    Rows: the sweep file's variants in order that have a child run; folds: ``cv.run_folds``
    or every fold; the paper's values: each variant's ``reference``.
    """
    present = {r.variant for r in results}
    variants = tuple(v["name"] for v in sweep.get("variants", []) if v["name"] in present)
    cv = sweep.get("cv", {})
    folds = tuple(cv.get("run_folds") or range(int(cv.get("folds", 5))))
    reference = {v["name"]: dict(v["reference"]) for v in sweep.get("variants", [])
                 if v.get("reference") and v["name"] in variants}
    compare_to = {v["name"]: v["compare_to"] for v in sweep.get("variants", [])
                  if v.get("compare_to") in variants and v["name"] in variants}
    cells = AblationConfig.model_validate(sweep["ablation"]).factorial_cells() \
        if sweep.get("ablation") else {}
    return TableLayout(variants=variants, folds=folds, reference=reference,
                       compare_to=compare_to, evidence=dict(sweep.get("evidence") or {}),
                       factorial={v: list(on) for v, on in cells.items()
                                  if set(cells) <= set(variants)})


def write_tables(table1: Table1, table2: Table2 | None, out: Path, *, title: str) -> list[Path]:
    """``table1.md/.csv/.tex``, ``effects.md`` (every metric's paired effects in words),
    ``strata.md/.csv`` (by lesion size) and ``table2.*`` when there is a Table 2 into
    ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    label = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    files = {
        "table1.md": table1.to_markdown(), "table1.csv": table1.to_csv(),
        "table1.tex": booktabs(table1.header(), [table1.row_cells(r) for r in table1.rows],
                               caption=f"{title}: mean +- sd over folds", label=f"tab:{label}-1",
                               notes=table1.lines_under),
    }
    evidence = table1.evidence
    if evidence is not None:
        files["effects.md"] = "\n".join(
            f"- {line}" for metric in TABLE1_METRICS for line in evidence.words(metric)) + "\n"
    if evidence is not None and evidence.strata is not None:
        files |= {"strata.md": evidence.strata.to_markdown(),
                  "strata.csv": evidence.strata.to_csv()}
    if table2 is not None:
        files |= {
            "table2.md": table2.to_markdown(), "table2.csv": table2.to_csv(),
            "table2.tex": booktabs(table2.header(), [table2.row_cells(r) for r in table2.rows],
                                   caption=f"{title}: inference overlap (mean +- sd over folds)",
                                   label=f"tab:{label}-2"),
        }
    for name, text in files.items():
        (out / name).write_text(text)
    return [out / name for name in files]


def _per_patient(table: Table1, results: Sequence[TrialResult]) -> tuple[dict, dict]:
    """Each patient's Dice per variant (the mean over its seeds) and its test fold."""
    sums: dict[str, dict[str, list[float]]] = {}
    folds: dict[str, int] = {}
    rows = {row.variant: row for row in table.rows}
    for result in results:
        row = rows.get(result.variant)
        if result.status != "FINISHED" or row is None or result.fold not in row.folds_done:
            continue
        for line in result.per_patient:
            value = line.get(DICE)
            if isinstance(value, float):
                sums.setdefault(str(line["case"]), {}).setdefault(row.variant, []).append(value)
                folds[str(line["case"])] = result.fold
    values = {case: {variant: sum(v) / len(v) for variant, v in by_variant.items()}
              for case, by_variant in sums.items()}
    return values, folds


def write_figures(table1: Table1, table2: Table2 | None, results: Sequence[TrialResult],
                  sweep: Mapping[str, Any], out: Path) -> list[Path]:
    """The sweep's figures into ``out`` (PNG, SVG and JSON each); return the paths."""

    written = save_figure(*table1_figure(table1), out, "table1")
    values, folds = _per_patient(table1, results)
    written += save_figure(*per_patient_figure(values, [r.variant for r in table1.rows], folds),
                           out, "per_patient_dice")
    if table1.evidence is not None and table1.evidence.effects:
        written += save_figure(*forest_figure(table1.evidence), out, "effects_forest")
    if table1.evidence is not None and table1.evidence.ranking is not None:
        written += save_figure(*ranking_figure(table1.evidence.ranking), out, "rank_stability")
    if table1.evidence is not None and table1.evidence.strata is not None:
        written += save_figure(*strata_figure(table1.evidence.strata), out, "lesion_strata")
    if table2 is not None:
        figure, data = overlap_figure([row.point() for row in table2.rows], device=table2.device)
        written += save_figure(figure, data, out, "table2")
    search = sweep.get("search")
    samples = [r for r in results if r.variant == SEARCH_VARIANT]
    if search and samples:
        for name, (figure, data) in search_figures(samples, search).items():
            written += save_figure(figure, data, out, name)
    return written


def _sweep_doc(uri: str, parent_run_id: str) -> dict[str, Any]:
    text = read_run_text(uri, parent_run_id, "sweep.yaml")
    if text is None:
        raise KeyError(f"run {parent_run_id} has no sweep.yaml: it is not a sweep's parent run")
    return dict(yaml.safe_load(text))


def build_report(uri: str, parent_run_id: str, out: Path, *,
                 trials: bool = True) -> list[Path]:
    """Rebuild every table and figure of the sweep ``parent_run_id`` into ``out``.

    Raises:
        KeyError: the run is not a sweep's parent run, or it has no child runs.
    """

    sweep = _sweep_doc(uri, parent_run_id)
    results = fetch_trial_results(uri, parent_run_id)
    if not results:
        raise KeyError(f"sweep run {parent_run_id} has no child runs: nothing to report")
    logged = read_run_text(uri, parent_run_id, LAYOUT_FILE)
    layout = TableLayout.from_json(logged) if logged else infer_layout(sweep, results)
    if not layout.evidence and sweep.get("evidence"):
        layout = replace(layout, evidence=dict(sweep["evidence"]))
    table1 = layout.table1(results)
    table2 = build_table2(results, variants=layout.variants, folds=layout.folds,
                          reference=layout.reference)
    title = str(sweep.get("name", "sweep"))
    written = write_tables(table1, table2, out, title=title)
    written += write_figures(table1, table2, results, sweep, out / "figures")
    if trials:
        for result in results:
            if result.variant != SEARCH_VARIANT and result.status == "FINISHED":
                seed = seed_of(result)  # a seed other than 0 gets its own folder
                suffix = f"-seed{seed}" if seed else ""
                folder = out / "trials" / f"{result.variant}-fold{result.fold}{suffix}"
                title = f"{result.variant}/fold{result.fold}{suffix.replace('-', ' ')}"
                training = result.tags.get("training_run", result.run_id)
                written += save_figure(*run_learning_curves(uri, training, title), folder,
                                       "learning_curves")
    return written


def publish_sweep_tables(uri: str, parent_run_id: str, table1: Table1, layout: TableLayout,
                         results: Sequence[TrialResult], sweep: Mapping[str, Any]) -> None:
    """Log Table 1 (Markdown, CSV, LaTeX, MLflow table, headline metrics), its layout, Table 2
    and the figures on
    the sweep's parent run; the end of every sweep (``platform.sweep.run``)."""
    headline = {k: v for k, v in table1.to_metrics().items() if k.endswith(HEADLINE_SUFFIX)}
    log_table(uri, parent_run_id, markdown=table1.to_markdown(), csv=table1.to_csv(),
              metrics=headline)
    table2 = build_table2(results, variants=layout.variants, folds=layout.folds,
                          reference=layout.reference)
    with tempfile.TemporaryDirectory(prefix="sweep-report-") as tmp:
        folder = Path(tmp)
        write_tables(table1, table2, folder, title=str(sweep.get("name", "sweep")))
        for name in ("table1.md", "table1.csv"):  # logged above, with the metrics
            (folder / name).unlink()
        (folder / LAYOUT_FILE).write_text(layout.to_json())
        write_figures(table1, table2, results, sweep, folder / "figures")
        log_files(uri, parent_run_id, folder, None)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; exit code 2 when the sweep cannot be found."""
    parser = argparse.ArgumentParser(
        prog="python -m platform.report",
        description="Rebuild a sweep's tables (Markdown, CSV, LaTeX) and figures (PNG, SVG) "
        "from MLflow, without rerunning anything.")
    parser.add_argument("sweep", help="sweep name (its MLflow experiment: the newest sweep), "
                        "'<sweep>/<sweep id>', the parent run id, or one trial's run id")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write (default: runs/report/<sweep>-<parent run id>)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI "
                        "(default: MLFLOW_TRACKING_URI, else sqlite:///runs/mlflow.db)")
    parser.add_argument("--no-trials", action="store_true",
                        help="skip the per-trial learning curves")
    parser.add_argument("--register", metavar="NAME", default=None,
                        help="also register --variant's best fold model (by Dice) as NAME")
    parser.add_argument("--variant", default=None, help="the variant --register picks from")
    parser.add_argument("--ensemble", action="store_true", help="--register the variant's "
                        "fold ensemble (<variant>-ensemble) instead of its best fold model")
    parser.add_argument("--alias", default=None, help="alias of the registered version, "
                        "e.g. champion (models:/NAME@champion)")
    args = parser.parse_args(argv)
    if args.register and not args.variant:
        parser.error("--register needs --variant (the variant whose best fold model to register)")
    if args.ensemble and not args.register:
        parser.error("--ensemble says what --register registers; give --register NAME too")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    uri = resolve_tracking_uri(args.tracking_uri, default_root=Path("runs").resolve())
    try:
        parent = find_sweep_parent(uri, args.sweep)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", args.sweep.split("/")[0])
        out = args.out or Path("runs") / "report" / f"{name}-{parent[:8]}"
        written = build_report(uri, parent, out, trials=not args.no_trials)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    print(f"{len(written)} files from sweep run {parent} in {out}/: "
          f"{', '.join(sorted({p.name for p in written if p.parent == out}))}")
    if args.register:
        try:
            done = register_best_model(uri, parent, args.variant, args.register, args.alias,
                                       ensemble=args.ensemble)
        except KeyError as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return 2
        at = f"@{done.alias}" if done.alias else f"/{done.version}"
        print(f"registered {done.model_uri} ({done.score} {done.dice:.4g}) as {done.name} version "
              f"{done.version}: models:/{done.name}{at}")
    return 0


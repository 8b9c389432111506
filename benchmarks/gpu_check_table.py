"""The one table ``gpu_check.py`` prints: a line per measured row, then projection and targets."""

from __future__ import annotations

from typing import Any

__all__ = ["format_table"]

ANCHOR = "basicunet"
COLUMNS = (("section", 11), ("what", 20), ("setting", 34), ("value", 22), ("vs anchor", 11),
           ("peak MiB", 9), ("note", 40))  # fmt: skip


def _line(cells: list[str]) -> str:
    return " ".join(f"{cell[:width]:<{width}}" for cell, (_, width) in zip(cells, COLUMNS,
                                                                            strict=True))


def _status(row: dict[str, Any]) -> str | None:
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    if "error" in row:
        return f"ERROR {row['error']}"
    return None


def _mib(row: dict[str, Any]) -> str:
    return "" if row.get("peak_mib") is None else f"{row['peak_mib']:.0f}"


def _train_step(data: dict[str, Any], row: dict[str, Any]) -> list[str]:
    anchor = [r for r in data["train_step"]
              if r["network"] == ANCHOR and r["mode"] == row["mode"] and "seconds" in r]
    ratio = f"{row['seconds'] / anchor[0]['seconds']:.2f}x time" if anchor else ""
    return ["train step", row["network"], row["mode"], f"{row['seconds'] * 1e3:.1f} ms/step",
            ratio, _mib(row), f"{row['dtype']}, warm-up {row['warmup_seconds']:.1f} s"]


def _loader(data: dict[str, Any], row: dict[str, Any]) -> list[str]:
    busy = row.get("busy_fraction")
    note = "" if busy is None else f"keeps the final step {busy:.0%} busy"
    return ["loader", f"{row['workers']} workers", f"{row['batches']} batches",
            f"{row['seconds_per_batch'] * 1e3:.1f} ms/batch", "", "", note]


def _inference(data: dict[str, Any], row: dict[str, Any]) -> list[str]:
    ours = [r for r in data["inference"]
            if r["overlap"] == row["overlap"] and r["contender"] == "ours" and "seconds" in r]
    ratio = ""
    if ours and row["contender"] != "ours":
        ratio = f"ours {row['seconds'] / ours[0]['seconds']:.2f}x faster"
    note = ""
    if "mask_voxels_differing_in_brain" in row:
        note = (f"max|dp| {row['max_abs_diff_in_brain']:.1e}, "
                f"{row['mask_voxels_differing_in_brain']} mask voxels differ")
    setting = f"{row['overlap']:.0%} overlap, {row['patches']} patches"
    return ["inference", row["contender"], setting, f"{row['seconds']:.2f} s/patient", ratio, "",
            note]


def _training(data: dict[str, Any], row: dict[str, Any]) -> list[str]:
    return ["training", "final variant",
            f"{row['iterations']} it, compile {row['compile']}, {row['workers']} workers",
            f"{row['iterations_per_s']:.2f} it/s", "", _mib(row),
            f"{row['seconds']:.0f} s in all, final loss {row['final_loss']:.3f}"]


def _cuda_tests(data: dict[str, Any], row: dict[str, Any]) -> list[str]:
    return ["cuda tests", f"-m gpu, {row.get('part', 'all')}",
            f"{row['files']} files, exit {row['returncode']}",
            f"{row['tests_passed']} passed, {row['tests_failed']} failed", "", "",
            f"{row['tests_skipped']} skipped, {row['tests_errors']} errors, "
            f"{row['seconds']:.0f} s"]


def _key_cells(section: str, row: dict[str, Any]) -> list[str]:
    what = row.get("network") or row.get("contender") or row.get("variant") or ""
    if "workers" in row and section == "loader":
        what = f"{row['workers']} workers"
    setting = row.get("mode") or (f"{row['overlap']:.0%} overlap" if "overlap" in row else "")
    return [section.replace("_", " "), str(what), str(setting)]


CONTENDERS = ("ours", "monai", "torchio")
ORDER = {"inference": lambda row: (row["overlap"], CONTENDERS.index(row["contender"]))}
"""Rows of a merged report (two device calls) are shown in this order; sorting is stable."""

FORMATTERS = {"cuda_tests": _cuda_tests, "train_step": _train_step, "loader": _loader,
              "inference": _inference, "training": _training}  # fmt: skip


def format_table(data: dict[str, Any]) -> str:
    """Every section's rows, the projection and the targets as one fixed-width table."""
    meta = data["meta"]
    lines = [f"gpu_check ({meta['mode']}) on {meta['name']} ({meta['device']}), torch "
             f"{meta['torch']}, CUDA {meta['cuda']}, {meta['date']}",
             _line([name for name, _ in COLUMNS]), _line(["-" * w for _, w in COLUMNS])]
    if "merged" in meta:
        merged = meta["merged"]
        lines.insert(1, f"parts {', '.join(meta.get('parts', []))} here, rows of parts "
                        f"{', '.join(merged.get('parts') or [])} merged from {merged['source']} "
                        f"({merged['date']})")
    if "merge_refused" in meta:
        lines.insert(1, f"NOT merged: {meta['merge_refused']}")
    for section, formatter in FORMATTERS.items():
        for row in sorted(data[section], key=ORDER.get(section, lambda row: 0)):
            status = _status(row)
            cells = [*_key_cells(section, row), status, "", "", ""] if status else \
                formatter(data, row)
            lines.append(_line(cells))
    projection = data.get("projection", {})
    if "hours_one_gpu" in projection:
        trials = f"{projection['trials']} trials x {projection['iterations']} it"
        lines.append(_line(["Table 1", "one GPU", trials, f"{projection['hours_one_gpu']:.1f} h",
                            "", "", f"{projection['seconds_per_trial'] / 3600:.2f} h per trial"]))
        lines.append(_line(["Table 1", "eight GPUs", "one trial per GPU",
                            f"{projection['hours_eight_gpus']:.1f} h", "", "", ""]))
    else:
        lines.append(_line(["Table 1", "projection", "", f"skipped: {projection.get('skipped')}",
                            "", "", ""]))
    for target in data.get("targets", []):
        value = "n/a" if target["value"] is None else f"{target['value']:.3g}"
        verdict = {True: "met", False: "MISSED", None: "not judged"}[target["met"]]
        limit = f"{value} ({target['direction']} {target['limit']:g})"
        lines.append(f"{'target':<11} {target['target']:<55} {limit:<22} {verdict:<11} "
                     f"{target['note']}".rstrip())
    return "\n".join(lines)

"""Notes under Table 1 for rows that are the same computation on the device that ran them.

Why: a sweep may hold variants that differ only in settings that have no effect where
they ran. The quickstart's ``final_fast`` and ``final_hull`` are an example: on a CPU,
mixed precision runs in float32. Their rows then agree, and the reader deserves the
reason. Equal numbers could also be chance, so the note never looks at them. It reads
the rows' resolved configs (the evaluation runs' params) and the devices their
trainings and evaluations ran on (the runs' ``device`` tags), and compares every pair of
rows that finished:

- settings that change no number (:attr:`TrialConfig.unscored`) are left out;
- where every training and evaluation of both rows ran on a CPU, so are the settings
  that change nothing there (:attr:`TrialConfig.cpu_inert`: ``train.amp``,
  ``train.channels_last``);
- nothing left that differs: *"rows A and B are identical by construction here"*, with
  the settings that were left out and why;
- only evaluation settings left (``eval.*``) once CPU-inert training settings were left
  out: the two rows *train identically here*, and the note names the evaluation
  settings their numbers may differ by. (Rows that share a training by design, such
  as Table 2's inference overlaps, get no note: the sweep file says so already.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from platform.config.trial import TrialConfig
from platform.tracking import TrialResult
from platform.tracking.payloads import TRUNCATED

__all__ = ["same_row_notes"]

_CPU = "CPU"
"""How a CPU's ``device`` tag starts (``CPU, 2 threads``)."""

Settings = dict[str, frozenset[str]]
"""A row's params: each setting's values over its finished runs (several with seeds)."""


def _settings(results: Sequence[TrialResult]) -> Settings:
    values: dict[str, set[str]] = {}
    for result in results:
        for key, value in result.params.items():
            if key not in TrialConfig.unscored:  # a value cut short is never "equal"
                cut = value.endswith(TRUNCATED)
                values.setdefault(key, set()).add(f"{value}@{result.run_id}" if cut else value)
    return {key: frozenset(found) for key, found in values.items()}


def _on_cpu(results: Sequence[TrialResult]) -> bool:
    """Whether every training and evaluation of ``results`` is known to have run on a CPU."""
    return all(device.startswith(_CPU) for r in results
               for device in (r.device, r.training_device))


def _shown(key: str, a: Settings, b: Settings) -> str:
    def values(settings: Settings) -> str:
        return "/".join(sorted(settings.get(key, frozenset({"unset"}))))

    return f"{key} ({values(a)} vs {values(b)})"


def _inert(keys: Sequence[str], a: Settings, b: Settings) -> str:
    """``train.amp (False vs auto), which changes nothing on a CPU``."""
    verb = "changes" if len(keys) == 1 else "change"
    return f"{', '.join(_shown(k, a, b) for k in keys)}, which {verb} nothing on a CPU"


def _pair_note(names: tuple[str, str], a: Settings, b: Settings, cpu: bool) -> str | None:
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    inert = [k for k in differ if cpu and k in TrialConfig.cpu_inert]
    rest = [k for k in differ if k not in inert]
    rows = f"rows {names[0]} and {names[1]}"
    if not differ:
        return f"{rows} are identical by construction here: the same settings"
    if not rest:
        return (f"{rows} are identical by construction here: they differ only in "
                f"{_inert(inert, a, b)}, where every training and evaluation of both ran")
    if inert and all(k.startswith("eval.") for k in rest):
        return (f"{rows} train identically here: they differ in {_inert(inert, a, b)}, where "
                "both trained; their numbers differ only through "
                f"{', '.join(_shown(k, a, b) for k in rest)}")
    return None


def same_row_notes(results: Sequence[TrialResult], variants: Sequence[str]) -> list[str]:
    """One note per pair of Table 1 rows that are the same computation, or the same
    training, on the device that ran them (see the module docstring).

    Args:
        results: the sweep's evaluation runs; only finished ones count.
        variants: Table 1's rows, in order.
    """
    finished: Mapping[str, list[TrialResult]] = {
        v: [r for r in results if r.variant == v and r.status == "FINISHED"] for v in variants}
    rows = [v for v in variants if finished[v]]
    settings = {v: _settings(finished[v]) for v in rows}
    notes = []
    for first, second in combinations(rows, 2):
        cpu = _on_cpu([*finished[first], *finished[second]])
        note = _pair_note((first, second), settings[first], settings[second], cpu)
        if note:
            notes.append(note)
    return notes

"""What a trial logs, as MLflow wants it: flattened params, per-patient CSV (pure code).

Kept apart from :mod:`platform.tracking` (which talks to MLflow) so that these
conversions are tested without a store, and the adapter stays about the store.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from platform.tracking.phi_guard import check_no_identifiers

__all__ = ["PARAM_VALUE_LIMIT", "TRUNCATED", "config_params", "parse_per_patient_csv",
           "per_patient_csv", "plain_data"]

#: Longest param value sent (MLflow 1.x servers refuse more than 500 characters; newer
#: ones allow 6000). Longer values are cut and marked; ``config.yaml`` holds them whole.
PARAM_VALUE_LIMIT = 500
TRUNCATED = "...[truncated, see config.yaml]"
"""The end of a param value cut to :data:`PARAM_VALUE_LIMIT`."""


def plain_data(node: Any) -> Any:
    """``node`` as plain YAML/JSON data (mappings -> dict, tuples -> list, paths -> str)."""
    if isinstance(node, Mapping):
        return {str(k): plain_data(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain_data(v) for v in node]
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    return str(node)


def config_params(resolved: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a resolved config into MLflow params with dotted keys.

    Nested mappings become ``a.b.c``; lists become JSON strings (``[96, 96, 96]``) so that
    the compare view shows them in one cell; a list of registry parts (preprocessing
    steps) becomes its names in order (``hu_window > remove_skull``) plus one param per
    part's setting (``steps.1.remove_skull.method``), so the UI shows them readable and
    "show diff only" names the setting that differs (issue 23: one 250-character JSON cell
    before); values longer than :data:`PARAM_VALUE_LIMIT` are cut and marked.

    Raises:
        ValueError: a key names a DICOM identifier (see :mod:`platform.tracking.phi_guard`).

    >>> config_params({"model": {"name": "unet", "se": True}, "patch": [64, 64, 64]})
    {'model.name': 'unet', 'model.se': 'True', 'patch': '[64, 64, 64]'}
    >>> config_params({"steps": [{"name": "hu_window", "low": 0}, {"name": "standardize"}]})
    {'steps': 'hu_window > standardize', 'steps.0.hu_window.low': '0'}
    """
    plain = plain_data(resolved)
    check_no_identifiers(plain, what="config")
    return {key: _clip(value) for key, value in _flatten(plain, "")}


def per_patient_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per-patient rows as CSV text, first column ``case`` (the pseudonymous case key).

    Columns are the union of the rows' keys in first-seen order; a cell a row lacks
    stays empty.

    Raises:
        ValueError: a row lacks ``case`` or has a key naming a DICOM identifier.
    """
    columns: dict[str, None] = {"case": None}
    for index, row in enumerate(rows):
        if "case" not in row:
            raise ValueError(f"per-patient row {index} has no 'case' key (keys: {sorted(row)}); "
                             "every row must name its pseudonymous case key")
        check_no_identifiers(row, what=f"per-patient row {index}")
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def parse_per_patient_csv(text: str) -> list[dict[str, Any]]:
    """Read :func:`per_patient_csv` text back: numbers as float, empty cells as nan."""
    return [{k: (v if k == "case" else _number(v)) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(text))]


def _number(text: str) -> float | str:
    if text == "":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return text


def _flatten(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path)
        elif _is_named_parts(value):
            yield path, " > ".join(str(part["name"]) for part in value)
            for index, part in enumerate(value):
                for knob, setting in part.items():
                    if knob != "name":
                        yield from _flatten({knob: setting}, f"{path}.{index}.{part['name']}")
        elif isinstance(value, (list, dict)):
            yield path, json.dumps(value)
        else:
            yield path, str(value)


def _is_named_parts(value: Any) -> bool:
    """A list of registry parts (``[{"name": ..., **params}, ...]``: preprocessing steps)."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(part, Mapping) and "name" in part for part in value))


def _clip(value: str) -> str:
    if len(value) <= PARAM_VALUE_LIMIT:
        return value
    return value[: PARAM_VALUE_LIMIT - len(TRUNCATED)] + TRUNCATED

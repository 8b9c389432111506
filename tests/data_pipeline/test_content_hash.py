"""data_pipeline.content_hash: one hash for cache entries, work keys and trial ids (issue 26).

Each caller's keys must stay what they were before the helper existed, or finished work
and cache entries would be orphaned: the two forms equal the formulas they replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from data_pipeline.content_hash import content_hash

DOCUMENT = {"steps": [{"name": "minmax", "background": "scaled"}], "code": 3,
            "source": {"path": Path("/c/case-000"), "size": 12}, "ü": 0.1}


def test_compact_form_equals_the_work_key_formula() -> None:
    text = json.dumps(DOCUMENT, sort_keys=True, separators=(",", ":"), default=str)
    assert content_hash(DOCUMENT, chars=16) == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_spaced_form_equals_the_cache_entry_formula() -> None:
    document = json.loads(json.dumps(DOCUMENT, default=str))  # what the cache hashes: JSON
    expected = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    assert content_hash(document, compact=False) == expected and len(expected) == 64


def test_key_order_does_not_matter_and_content_does() -> None:
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"a": 1}, compact=False) != content_hash({"a": 1})

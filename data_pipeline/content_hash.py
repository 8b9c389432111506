"""One content hash for every key: SHA-256 of a document written as canonical JSON.

Cache entries, work keys and trial ids are all "the same content gives the same key", so
they share this one function: keys sorted, values that JSON cannot hold written as
``str``. ``compact`` chooses the separators; each caller keeps the form its stored keys
were made with (a changed form would change every key and orphan finished work).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["content_hash"]


def content_hash(document: Any, *, compact: bool = True, chars: int | None = None) -> str:
    """Hex SHA-256 of ``document`` as canonical JSON.

    Args:
        document: JSON-like data (mappings, sequences, numbers, strings; anything else is
            written as ``str``).
        compact: ``,`` and ``:`` between items (work keys, trial ids); else JSON's default
            ``, `` and ``: `` (cache entries).
        chars: keep the first ``chars`` hex digits (None: all 64).
    """
    separators = (",", ":") if compact else (", ", ": ")
    text = json.dumps(document, sort_keys=True, separators=separators, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:chars]

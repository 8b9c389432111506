"""``python -m platform.parameters [--check]``: print or check ``docs/parameters.md``.

The document is rendered from the schema and the params models
(:mod:`platform.config.reference`)::

    python -m platform.parameters > docs/parameters.md     # after changing a default
    python -m platform.parameters --check                  # exit 1 if docs/ is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from platform.config.reference import render
from platform.tracking.provenance import REPO_ROOT

__all__ = ["DOC_PATH", "main"]

DOC_PATH = REPO_ROOT / "docs" / "parameters.md"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the document, or with ``--check`` compare it with ``docs/parameters.md``."""
    parser = argparse.ArgumentParser(prog="python -m platform.parameters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if {DOC_PATH.relative_to(REPO_ROOT)} is out of date")
    args = parser.parse_args(argv)
    text = render()
    if not args.check:
        sys.stdout.write(text)
        return 0
    current = Path(DOC_PATH).read_text() if DOC_PATH.exists() else ""
    if current != text:
        print(f"{DOC_PATH} is out of date: run python -m platform.parameters > "
              f"{DOC_PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m models list [--kind KIND] [--markdown]``.

Why: a sweep author needs the names a YAML may use, and each part's parameters with
their defaults, without reading the code. The listing is made from the params models
(:mod:`data_pipeline.parts.docs`), so it cannot drift; plugin parts appear too once their
package is installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from data_pipeline.parts import render_markdown, render_text
from data_pipeline.parts.registry import registry
from models.registry import KINDS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    import models  # noqa: F401 -- registers the project's parts and loads plugins

    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="print every part with its parameters")
    listing.add_argument("--kind", choices=KINDS, help="print only this kind")
    listing.add_argument("--markdown", action="store_true", help="Markdown tables")
    args = parser.parse_args(argv)
    parts = [registry(kind) for kind in ([args.kind] if args.kind else KINDS)]
    print(render_markdown(parts) if args.markdown else render_text(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

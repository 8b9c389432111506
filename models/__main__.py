"""Command line: ``python -m models list [--kind KIND]`` prints every registered name.

Why: a sweep author needs the names a YAML may use without reading the code; plugin
parts appear here too once their package is installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from models.registry import KINDS, get_registry

__all__ = ["main"]


def _format(kind: str) -> list[str]:
    registry = get_registry(kind)
    lines = [f"{kind}:"]
    for name in registry.names():
        defaults = registry.entry(name).defaults
        suffix = f"  (defaults: {dict(defaults)})" if defaults else ""
        lines.append(f"  {name}{suffix}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    import models  # noqa: F401 -- registers the project's parts and loads plugins

    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="print every kind and its registered names")
    listing.add_argument("--kind", choices=KINDS, help="print only this kind")
    args = parser.parse_args(argv)
    kinds = [args.kind] if args.kind else list(KINDS)
    print("\n".join(line for kind in kinds for line in _format(kind)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

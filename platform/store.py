"""``python -m platform.store relocate DB``: make a moved or copied MLflow store work again.

A SQLite store records absolute artifact URIs; after ``runs/`` moves (another folder,
another machine) they point at the old place. ``relocate`` rewrites them to the
``mlartifacts/`` folder beside the database (:mod:`platform.tracking.relocate`)::

    cp -r node7:/scratch/runs ~/runs && stroke-store relocate ~/runs/mlflow.db
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from platform.tracking.relocate import relocate_store

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; exit 2 when the store or its artifacts are missing."""
    parser = argparse.ArgumentParser(prog="python -m platform.store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    relocate = commands.add_parser("relocate", help="point a moved store's artifact URIs at "
                                   "the mlartifacts/ folder beside its database")
    relocate.add_argument("database", help="the store's mlflow.db (or sqlite:/// URI)")
    args = parser.parse_args(argv)
    database = Path(args.database.removeprefix("sqlite:///"))
    try:
        done = relocate_store(database)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    if not done.old_roots:
        print(f"{database}: every artifact URI already points at {done.new_root}")
    else:
        print(f"{database}: {done.rows} artifact URIs moved from {', '.join(done.old_roots)} "
              f"to {done.new_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

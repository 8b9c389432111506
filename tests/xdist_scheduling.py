"""How ``make test`` shares the suite between its pytest-xdist workers (``-n 2 --dist
loadgroup``): whole test files, the slow ones first, and the files of one costly
session fixture together.

Why not xdist's own ``loadgroup``: it marks a test's group by appending ``@group`` to
``item._nodeid``, which pytest 9.2 no longer reads (``Node.nodeid`` comes from
``Node._id``), so every test was scheduled alone. Tests of one file then landed on both
workers and each built the file's module-scoped fixture (nnU-Net's toy row: twice 70 s).
This scheduler decides in the controller, from node ids and file contents alone:

- a work unit is a test file, so module- and class-scoped fixtures are built once;
- the files that name one of :data:`SHARED_SESSION_FIXTURES` are one unit, so the
  fixture is built on one worker only;
- units are handed out in collection order, which ``conftest.py`` sorts slow files first,
  so that no worker is left with a long test at the end while the other idles.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

SHARED_SESSION_FIXTURES = ("ray_two_nodes", "finished_tiny_sweep", "trained_trial",
                           "mlflow_server")
"""Costly session fixtures: every test file that uses one runs on the same worker."""


@cache
def unit_of_file(path: Path) -> str:
    """The work unit of a test file: the first shared session fixture it names, else itself."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    return next((name for name in SHARED_SESSION_FIXTURES
                 if re.search(rf"\b{name}\b", text)), str(path))


class SharedFixtureScheduling(LoadScopeScheduling):
    """xdist's load-by-scope scheduler with :func:`unit_of_file` as the scope."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)
        self.root = config.rootpath
        config.option.loadscopereorder = False  # keep conftest's order: slow files first

    def _split_scope(self, nodeid: str) -> str:
        return unit_of_file(self.root / nodeid.split("::", 1)[0])

"""Orchestration of the stroke-segmentation ablation: sweep, trial, tracking, reporting.

This package is also a faithful stand-in for Python's standard ``platform`` module,
because it shadows it whenever the repository root is on ``sys.path``; the recipe and
the reasons are in :mod:`platform._stdlib`.
"""

from platform._stdlib import reexport_into

STDLIB_NAMES: tuple[str, ...] = tuple(reexport_into(globals()))

del reexport_into

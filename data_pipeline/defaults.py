"""Defaults that a data-pipeline command and the sweep schema share, kept light.

Why a module of its own: the sweep schema (``platform.config``) validates files without
importing the readers or the preprocessing steps (SciPy, SimpleITK, torch), and a
default lives once (STYLE.md): here, for both.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LESION_LOSS"]

DEFAULT_MAX_LESION_LOSS = 0.005
"""Largest share of a case's lesion preprocessing may take by default (ours): the default
of ``preprocessing.max_lesion_loss`` and what ``python -m data_pipeline.inspect`` checks,
so that inspect and a sweep refuse the same cases (issue 28)."""

"""Shared settings for the models tests: one torch thread (several helpers share 2 cores)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_fixed_seed(one_torch_thread: None) -> None:
    """Every models test: one torch thread (``tests/conftest.py``) and torch's seed 0."""
    torch.manual_seed(0)

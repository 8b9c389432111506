"""mypy over ``platform``, ``models`` and ``data_pipeline``, configured in ``pyproject.toml``.

Run through the test command so that CI, which runs only ``python -m pytest``, type-checks
too (issue 26). mypy runs from the repository root, where ``platform/`` is the project
package (see ``[tool.mypy]``); the ``dev`` extra installs it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # about 80 s on 2 CPU cores without mypy's cache (.mypy_cache), 10 s with it
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed: install the dev extra (make test does)")
def test_mypy_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]

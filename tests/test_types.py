"""mypy over ``platform``, ``models`` and ``data_pipeline``, configured in ``pyproject.toml``.

Run through the test command so that CI, which runs only ``python -m pytest``, type-checks
too (issue 26). mypy runs from the repository root, where ``platform/`` is the project
package (see ``[tool.mypy]``); the ``dev`` extra installs it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("platform", "models", "data_pipeline")


@pytest.mark.slow  # about 80 s on 2 CPU cores without mypy's cache (.mypy_cache), 10 s with it
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed: install the dev extra (make test does)")
def test_mypy_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
REASON = re.compile(r"\s+#\s*\S")


def test_every_type_ignore_says_why() -> None:
    """STYLE.md: each ``# type: ignore[code]`` is followed on its line by ``  # reason``."""
    bare = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                found = IGNORE.search(line)
                if found and not REASON.match(found["rest"]):
                    bare.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert bare == [], "type: ignore without '  # reason' after it:\n" + "\n".join(bare)

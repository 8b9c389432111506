"""Tests for models/__main__.py: `python -m models list`, made from the params models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from data_pipeline.parts.registry import registry
from models.__main__ import main
from models.registry import KINDS

ROOT = Path(__file__).resolve().parents[2]


def test_list_prints_every_kind_name_and_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in KINDS:
        assert f"{kind}:  builder(params" in out
        for name in registry(kind).names():
            assert f"\n  {name}  " in out
    assert "      se_ratio = 16  (int >= 1) SE reduction ratio" in out
    assert "      gamma = 2.0  (float >= 0.0) Focusing exponent" in out


def test_list_one_kind_as_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--kind", "loss", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## loss") and "## model" not in out
    assert "| `eps` | float > 0.0 | `1e-05` |" in out


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models", "list", "--kind", "schedule"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("schedule:") and lines[1].startswith("  constant  ")
    assert any(line.startswith("      every = 5000") for line in lines)

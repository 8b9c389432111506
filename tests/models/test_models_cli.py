"""Tests for models/__main__.py: `python -m models list`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.__main__ import main
from models.registry import KINDS, list_names

ROOT = Path(__file__).resolve().parents[2]


def test_list_prints_every_kind_and_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in KINDS:
        assert f"{kind}:\n" in out
        for name in list_names(kind):
            assert f"\n  {name}" in out
    assert "unet3d_residual_se  (defaults: {'residual': True, 'se': True})" in out


def test_list_one_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--kind", "loss"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "loss:" and "model:" not in out


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models", "list", "--kind", "schedule"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["schedule:", "constant", "step_halving"]

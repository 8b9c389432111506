"""Tests for data_pipeline/cohort/pseudonym.py: where the cohort salt comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.cohort.pseudonym import SALT_ENV, SALT_FILE_ENV, SaltError, load_salt

SALT = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_salt_sources_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.delenv(SALT_FILE_ENV, raising=False)
    with pytest.raises(SaltError, match="no cohort salt: neither STROKE_COHORT_SALT_FILE"):
        load_salt()
    outside = tmp_path / "secrets" / "cohort.salt"
    outside.parent.mkdir()
    outside.write_text(SALT.hex() + "\n")
    monkeypatch.setenv(SALT_FILE_ENV, str(outside))
    assert load_salt() == SALT
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    inside = tmp_path / "repo" / "cohort.salt"
    inside.write_text(SALT.hex())
    with pytest.raises(SaltError, match="inside the git work tree"):
        load_salt(inside)
    outside.write_text("short")
    with pytest.raises(SaltError, match="the salt has 5 bytes, expected at least 16"):
        load_salt()

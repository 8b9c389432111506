"""platform/config/evidence.py: the evidence settings, validated where a sweep is read."""

from __future__ import annotations

import pydantic
import pytest

from platform.config.evidence import CORRECTIONS, INTERVALS, EvidenceConfig


def test_defaults_are_a_95_percent_percentile_interval_and_holm() -> None:
    evidence = EvidenceConfig()
    assert (evidence.confidence, evidence.interval, evidence.correction) == (
        0.95, "percentile", "holm")
    assert evidence.resamples == 10_000 and evidence.min_pairs == 5
    assert "holm" in CORRECTIONS and "bca" in INTERVALS


@pytest.mark.parametrize("bad", [{"correction": "tukey"}, {"confidence": 0.4},
                                 {"resamples": 10}, {"min_pairs": 1}, {"interval": "normal"}])
def test_a_bad_setting_is_refused(bad: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        EvidenceConfig(**bad)

"""platform/tracking/tags.py: run kinds, and evaluation runs of older stores still found."""

from __future__ import annotations

import pytest

from platform.tracking.tags import EVALUATION_KINDS, kind_filters


def test_evaluations_are_searched_under_the_new_and_the_old_run_kind() -> None:
    assert kind_filters("evaluation") == ("tags.run_kind = 'evaluation'",
                                          "tags.run_kind = 'trial'")
    assert EVALUATION_KINDS == ("evaluation", "trial")
    assert kind_filters("training") == ("tags.run_kind = 'training'",)
    assert kind_filters("sweep") == ("tags.run_kind = 'sweep'",)
    assert kind_filters("ensemble") == ("tags.run_kind = 'ensemble'",)  # issue 23


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(KeyError):
        kind_filters("trial")  # an old value is read, never asked for

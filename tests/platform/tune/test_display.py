"""platform.tune.display: what the Ray Tune callback tells a progress display.

The callback (``test_progress.py``) knows only this protocol; the sweep's console
display (:class:`platform.sweep.console.SweepProgress`) must keep implementing it.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from platform.sweep.console import SweepProgress
from platform.tune.display import ProgressDisplay, TrialView

PROTOCOL_METHODS = ("expect", "start", "update", "trial_failed", "trial_stopped",
                    "trial_retrying", "stop")


def test_a_trial_view_is_frozen_and_starts_with_its_own_empty_result() -> None:
    first, second = TrialView("se-f0", "PENDING"), TrialView("se-f1", "RUNNING")
    assert first.result == {} and first.result is not second.result
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.status = "RUNNING"  # type: ignore[misc]


def test_the_protocol_is_what_the_callback_calls() -> None:
    named = {name for name, member in vars(ProgressDisplay).items()
             if inspect.isfunction(member) and not name.startswith("_")}
    assert named == set(PROTOCOL_METHODS)


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_the_sweeps_display_implements_each_method_with_its_parameters(name: str) -> None:
    wanted = inspect.signature(getattr(ProgressDisplay, name)).parameters
    given = inspect.signature(getattr(SweepProgress, name)).parameters
    assert list(given) == list(wanted)

"""What the Ray Tune callback tells a progress display, without importing Ray.

The display itself (:class:`platform.sweep.console.SweepProgress`) belongs to the sweep's
console; the callback (:mod:`platform.tune.progress`) only knows this protocol, so the
tuning stage never imports the driver above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FAILURE_REASON", "ProgressDisplay", "TrialView"]

FAILURE_REASON = "failure_reason"
"""Result key of a trial that ended without raising because its training stopped for good
(a NaN or diverging loss, :mod:`platform.trial.stops`): the reason, one line."""


@dataclass(frozen=True)
class TrialView:
    """One trial as the display needs it (built from a Ray Tune trial by the callback)."""

    name: str
    status: str
    """Ray Tune's: PENDING, RUNNING, PAUSED, TERMINATED or ERROR (also a trial that
    ended with a :data:`FAILURE_REASON`: it failed, though Ray Tune did not retry it)."""
    result: Mapping[str, Any] = field(default_factory=dict)
    """Its last reported result (``done`` trials: the fold means)."""


class ProgressDisplay(Protocol):
    """A live display of a Ray Tune run's trials."""

    def expect(self, total: int) -> None: ...

    def start(self) -> None: ...

    def update(self, trials: Sequence[TrialView]) -> None: ...

    def trial_failed(self, name: str, error: str) -> None: ...

    def trial_stopped(self, name: str, reason: str) -> None: ...

    def trial_retrying(self, name: str, error: str) -> None: ...

    def stop(self) -> None: ...

"""Why a training stops for good: a non-finite loss, or a finite loss that diverges.

Why a module of its own: these are the failures that retrying cannot fix (the same
config, seed and data give the same loss again), so the trial ends at once with its
reason instead of being retried by Ray Tune (:mod:`platform.tune.trainable` ends such a
trial with a ``failure_reason`` result; the trial's MLflow runs end FAILED with it, and
Table 1 shows ``failed: <reason>``). Every error here pickles and copies with its
fields, so it crosses the Ray boundary intact.

The divergence guard (ours; the paper has none) compares the mean loss of the newer half
of the last ``2 * window`` iterations with the mean of the older half::

    losses:  ... | older half (<= window) | newer half (<= window) | <- newest
    stop when  mean(newer) > factor * mean(older)

With fewer than ``2 * window`` losses seen, the seen ones are split in two halves (from
the second iteration on: one loss against the one before). A jump (``lr=1e6``: from
about 1 to 1e11 within a few steps) and a steady climb by more than ``factor`` over
``window`` iterations both stop the trial; the spread of patch losses does not (a
lesion patch after empty ones stays within a factor of the window's mean). Limits: a
climb slower than ``factor`` per ``window`` iterations is not caught (read the learning
curve), and a loss that falls to near zero for a whole window and then rises by
``factor`` is stopped. ``train.divergence_factor: null`` switches the guard off.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["DivergenceGuard", "DivergingLossError", "NonFiniteLossError", "TrainingStopped"]


class TrainingStopped(FloatingPointError):
    """A training stopped for a reason a retry cannot fix; not retried.

    Args:
        reason: one line for Table 1 and the console (``non-finite loss at iteration 7``).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason,)


class NonFiniteLossError(TrainingStopped):
    """The loss became NaN or Inf; training stopped and the last good checkpoint is kept."""

    def __init__(self, iteration: int, loss: float, last_finite: float | None) -> None:
        self.iteration, self.loss, self.last_finite = iteration, loss, last_finite
        last = "none yet" if last_finite is None else f"{last_finite:.6g}"
        super().__init__(f"non-finite loss at iteration {iteration} (loss {loss}, last "
                         f"finite loss {last})")
        self.args = (f"loss became {loss} at iteration {iteration} (last finite loss: "
                     f"{last}); training stopped, the last good checkpoint is kept",)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.iteration, self.loss, self.last_finite)


class DivergingLossError(TrainingStopped):
    """The loss grew by more than the guard's factor (:class:`DivergenceGuard`)."""

    def __init__(self, iteration: int, recent: float, earlier: float, factor: float) -> None:
        self.iteration, self.recent, self.earlier, self.factor = (iteration, recent, earlier,
                                                                  factor)
        super().__init__(
            f"diverging loss at iteration {iteration} (mean {recent:.4g}, more than "
            f"{factor:g} x the mean {earlier:.4g} before it; train.divergence_factor)")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.iteration, self.recent, self.earlier, self.factor)


class DivergenceGuard:
    """Stop a training whose finite loss grows by more than ``factor`` (module doc).

    Args:
        factor: growth of the newer half's mean over the older half's that stops the
            trial; None: never stop (the guard is off).
        window: most losses in each half (iterations).
    """

    def __init__(self, factor: float | None, window: int) -> None:
        self.factor, self.window = factor, window
        self._losses: deque[float] = deque(maxlen=2 * window)

    def check(self, iteration: int, loss: float) -> None:
        """Take the finite ``loss`` of ``iteration``.

        Raises:
            DivergingLossError: the loss diverged (module doc).
        """
        if self.factor is None:
            return
        self._losses.append(loss)
        count = len(self._losses)
        if count < 2:
            return
        older = list(self._losses)[: count // 2]
        newer = list(self._losses)[count // 2:]
        earlier, recent = sum(older) / len(older), sum(newer) / len(newer)
        if earlier > 0.0 and recent > self.factor * earlier:  # a ratio of positive losses
            raise DivergingLossError(iteration, recent, earlier, self.factor)

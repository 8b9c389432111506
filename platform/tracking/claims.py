"""A claim on a training key, so that sweeps sharing one store never train a key twice.

Why an experiment per claim: MLflow has no lock, but experiment names are unique in
every backend (a database constraint), so creating the experiment
``<experiment> claim <key> #<generation>`` succeeds for exactly one process. The
experiment is a hidden record (:mod:`platform.tracking.hidden`: kept deleted, so users
never see it in the MLflow UI, its name still taken). The owner refreshes its
``heartbeat`` tag while it trains and marks it released when done (the next claim of the
key takes the next generation). A waiting process polls until the training is finished
(and reuses it), the claim is released without a result (it takes the next generation),
or the heartbeat is older than ``stale_after_s`` (a dead owner: it takes the next
generation). A retried trial owns its earlier claim again (same owner string).

The owner string names the driver's invocation (a unique id per process start,
:class:`platform.tracking.sweep_lock.Invocation`) and the work, so two invocations can
never both own a key, while a retried Ray trial of the same invocation still owns its
own claim. A claim made under a sweep lock (:mod:`platform.tracking.sweep_lock`) records
it: once that lock is no longer held by the claim's invocation (the driver ended, or
died and a new driver took the sweep over), the claim is taken over at once instead of
after ``stale_after_s``. Evaluations are claimed by their key the same way, so two
sweeps sharing an evaluation run it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from platform.tracking.hidden import RELEASED, create_hidden, is_released, set_hidden_tags
from platform.tracking.store import mlflow_client
from platform.tracking.sweep_lock import lock_alive

__all__ = ["LockRef", "TrainingClaim", "claim_name"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_OWNER, _HEARTBEAT, _LOCK, _INVOCATION = "owner", "heartbeat", "sweep_lock", "invocation"

LockRef = tuple[str, str]
"""``(sweep lock name, invocation id)``: the lock the claiming driver holds."""


def claim_name(experiment: str, key: str, generation: int) -> str:
    """The experiment whose creation claims training ``key`` (generation ``generation``)."""
    return f"{experiment} claim {key} #{generation}"


class TrainingClaim:
    """Hold the claim on a training key while the ``with`` block trains it.

    :meth:`wait_or_claim` returns what ``finished()`` found once another process
    finished the key, or None once this process holds the claim (then the heartbeat runs
    until the block ends and the claim is released).
    """

    def __init__(self, uri: str, experiment: str, key: str, *, owner: str,
                 stale_after_s: float, poll_s: float, lock: LockRef | None = None) -> None:
        self.uri, self.experiment, self.key, self.owner = uri, experiment, key, owner
        self.stale_after_s, self.poll_s, self.lock = stale_after_s, poll_s, lock
        self._held: str | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def wait_or_claim(self, finished: Callable[[], T | None]) -> T | None:
        """Wait until ``finished()`` gives a result (returned) or this process holds the
        claim (None)."""
        client = mlflow_client(self.uri)
        generation = 0
        announced = False
        while True:
            result = finished()
            if result is not None:
                return result
            name = claim_name(self.experiment, self.key, generation)
            self._held = create_hidden(self.uri, name, self.experiment, self._tags())
            if self._held is not None:
                self._start_heartbeat()
                return None
            holder = client.get_experiment_by_name(name)
            if holder is None:  # purged between the two calls: try the same name again
                continue
            released = is_released(holder.tags)
            if not released and holder.tags.get(_OWNER) == self.owner:
                self._held = holder.experiment_id  # a retry of the owner: still ours
                self._start_heartbeat()
                return None
            if released or self._gone(holder.tags):
                if not released:
                    logger.warning("work %s: the owner of claim %r is gone (no heartbeat for "
                                   "%.0f s, or its driver ended); taking it over", self.key,
                                   name, self.stale_after_s)
                generation += 1
                continue
            if not announced:
                logger.info("training %s is being trained by %s; waiting for it",
                            self.key, holder.tags.get(_OWNER, "another sweep"))
                announced = True
            time.sleep(self.poll_s)

    def _tags(self) -> dict[str, str]:
        tags = {_OWNER: self.owner, _HEARTBEAT: repr(time.time())}
        if self.lock is not None:
            tags[_LOCK], tags[_INVOCATION] = self.lock
        return tags

    def _gone(self, tags: dict[str, str]) -> bool:
        """Whether the holder's owner is gone: its driver no longer holds the sweep lock
        it claimed under, or its heartbeat is stale."""
        if _LOCK in tags and not lock_alive(self.uri, tags[_LOCK], tags.get(_INVOCATION, "")):
            return True
        return self._stale(tags)

    def _stale(self, tags: dict[str, str]) -> bool:
        try:
            beat = float(tags.get(_HEARTBEAT, "0"))
        except ValueError:
            return True
        return time.time() - beat > self.stale_after_s

    def _start_heartbeat(self) -> None:
        held = self._held
        assert held is not None
        interval = self.stale_after_s / 5

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    set_hidden_tags(self.uri, held, {_HEARTBEAT: repr(time.time())})
                except Exception as err:  # a missed beat is retried; the claim may go stale
                    logger.warning("training %s: heartbeat failed: %s", self.key, err)

        self._beat = threading.Thread(target=beat, name=f"claim-{self.key}", daemon=True)
        self._beat.start()

    def release(self) -> None:
        """Stop the heartbeat and mark the claim released (its name stays taken: see the
        module doc); releasing a claim a retry of this owner already released again is
        harmless."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        if self._held is not None:
            set_hidden_tags(self.uri, self._held, {RELEASED: "done"})
            self._held = None

    def __enter__(self) -> TrainingClaim:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

"""One driver per sweep at a time, on a store many sweeps share: the sweep lock.

Why: two copies of one sweep on one store attached to the same parent run, wrote the
same Ray Tune folder and took each other's training claims (issue 28: keys trained
twice, a store Table 1 then refused). A driver now holds its sweep's lock while it runs;
a second invocation of the same sweep (same store, experiment and sweep id) is refused
with one line naming the running one (host, pid, start time). Different sweeps run at
once and share finished work through the claims of :mod:`platform.tracking.claims`.

Like a claim, the lock is an MLflow experiment whose creation succeeds for one process
(``<experiment> sweep <sweep id> #<generation>``), a hidden record
(:mod:`platform.tracking.hidden`: users never see it in the MLflow UI), tagged with the
holding :class:`Invocation` and refreshed by a heartbeat; released, it is marked so (its
name stays taken: the next driver takes the next generation). A holder is gone when its lock is
released, when its heartbeat is older than ``stale_after_s``, or, on the same host, at
once when its process is no longer alive (a driver killed with SIGKILL and run again).
A trial's claim names the lock generation of its invocation, so that a claim left by a
dead driver is taken over as soon as a new driver holds the sweep's lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from types import TracebackType

import psutil

from platform.tracking.hidden import RELEASED, create_hidden, is_released, set_hidden_tags
from platform.tracking.store import mlflow_client

__all__ = ["Invocation", "SweepAlreadyRunning", "SweepLock", "lock_name"]

logger = logging.getLogger(__name__)

_INVOCATION, _HOST, _PID, _STARTED, _HEARTBEAT = (
    "invocation", "host", "pid", "started", "heartbeat")


def lock_name(experiment: str, sweep_id: str, generation: int) -> str:
    """The experiment whose creation takes the lock of sweep ``sweep_id``."""
    return f"{experiment} sweep {sweep_id} #{generation}"


@dataclass(frozen=True)
class Invocation:
    """One start of a driver: a unique id, where and when it runs."""

    id: str
    host: str
    pid: int
    started: float
    """Seconds since the epoch."""

    @staticmethod
    @cache
    def current() -> Invocation:
        """This process's invocation (the same object for the life of the process)."""
        return Invocation(id=uuid.uuid4().hex[:16], host=socket.gethostname(), pid=os.getpid(),
                          started=time.time())

    def tags(self) -> dict[str, str]:
        """Tags naming it on a lock or a claim."""
        return {_INVOCATION: self.id, _HOST: self.host, _PID: str(self.pid),
                _STARTED: repr(self.started)}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Invocation | None:
        """The invocation named by ``tags`` (None: not tagged)."""
        try:
            return cls(id=tags[_INVOCATION], host=tags[_HOST], pid=int(tags[_PID]),
                       started=float(tags[_STARTED]))
        except (KeyError, ValueError):
            return None

    def describe(self) -> str:
        """``host H, pid P, started 2026-12-06 02:30:01 UTC``."""
        when = datetime.fromtimestamp(self.started, tz=timezone.utc)
        return f"host {self.host}, pid {self.pid}, started {when:%Y-%m-%d %H:%M:%S} UTC"

    def is_dead_here(self) -> bool:
        """Whether it ran on this host and its process is gone (or the pid was reused by
        a process started after it)."""
        if self.host != socket.gethostname():
            return False
        try:
            return psutil.Process(self.pid).create_time() > self.started + 1.0
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return True


class SweepAlreadyRunning(RuntimeError):
    """Another driver holds the sweep's lock: the message names it (one line)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.message,)


class SweepLock:
    """Hold sweep ``sweep_id``'s lock in ``experiment`` for the ``with`` block.

    Args:
        sweep: the sweep's name, for the message.
        stale_after_s: a holder whose heartbeat is older is taken over.
    """

    def __init__(self, uri: str, experiment: str, sweep_id: str, *, sweep: str,
                 stale_after_s: float, invocation: Invocation | None = None) -> None:
        self.uri, self.experiment, self.sweep_id, self.sweep = uri, experiment, sweep_id, sweep
        self.stale_after_s = stale_after_s
        self.invocation = invocation or Invocation.current()
        self.name: str | None = None
        """The lock experiment held (``None`` before :meth:`acquire`)."""
        self._held: str | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> str:
        """Take the lock; return its name (claims record it).

        Raises:
            SweepAlreadyRunning: a live driver holds it.
        """
        client = mlflow_client(self.uri)
        generation = 0
        while True:
            name = lock_name(self.experiment, self.sweep_id, generation)
            self._held = create_hidden(self.uri, name, self.experiment,
                                       {**self.invocation.tags(), _HEARTBEAT: repr(time.time())})
            if self._held is not None:
                self.name = name
                self._start_heartbeat()
                return name
            holder = client.get_experiment_by_name(name)
            if holder is None:  # purged between the two calls
                continue
            released = is_released(holder.tags)
            if not released and not self._gone(holder.tags):
                raise SweepAlreadyRunning(self._refusal(holder.tags))
            if not released:  # a dead driver's: ended here, so its claims are free at once
                logger.warning("sweep %s: the driver holding %r is gone; taking over",
                               self.sweep, name)
                set_hidden_tags(self.uri, holder.experiment_id, {RELEASED: "taken over"})
            generation += 1

    def _gone(self, tags: dict[str, str]) -> bool:
        owner = Invocation.from_tags(tags)
        if owner is not None and owner.is_dead_here():
            return True
        try:
            return time.time() - float(tags.get(_HEARTBEAT, "0")) > self.stale_after_s
        except ValueError:
            return True

    def _refusal(self, tags: dict[str, str]) -> str:
        owner = Invocation.from_tags(tags)
        where = owner.describe() if owner else "an unknown driver"
        return (f"sweep {self.sweep!r} (id {self.sweep_id}) is already running on this store "
                f"({where}); wait for it to end, or stop it and run again to resume it")

    def _start_heartbeat(self) -> None:
        held = self._held
        if held is None:
            raise RuntimeError(f"sweep {self.sweep}: the lock is not held, nothing to beat for")
        interval = self.stale_after_s / 5

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    set_hidden_tags(self.uri, held, {_HEARTBEAT: repr(time.time())})
                except Exception as err:  # a missed beat is retried; the lock may go stale
                    logger.warning("sweep %s: lock heartbeat failed: %s", self.sweep, err)

        self._beat = threading.Thread(target=beat, name=f"sweep-lock-{self.sweep_id}",
                                      daemon=True)
        self._beat.start()

    def release(self) -> None:
        """Stop the heartbeat and mark the lock released (its name stays taken)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        if self._held is not None:
            set_hidden_tags(self.uri, self._held, {RELEASED: "ended"})
            self._held = None

    def __enter__(self) -> SweepLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def lock_alive(uri: str, name: str, invocation: str) -> bool:
    """Whether the lock experiment ``name`` is still held by invocation ``invocation``
    (False once released, taken over, or held by another)."""
    holder = mlflow_client(uri).get_experiment_by_name(name)
    return (holder is not None and not is_released(holder.tags)
            and holder.tags.get(_INVOCATION) == invocation)

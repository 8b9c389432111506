"""Races on real processes: keep the cores busy while they run, and let nothing outlive
the test process.

Races hide on an idle machine (issue 28: two sweeps on one store trained a key twice in
3 of 8 tries, only while other processes kept both cores busy), so a concurrency test
runs its contenders beside :func:`busy_cores`: bounded busy loops that end by
themselves. Every process started here gets :func:`die_with_parent` (Linux
``PR_SET_PDEATHSIG``: the kernel sends SIGKILL when the test process dies, even by
SIGKILL, when no teardown runs) and is killed by the context manager that started it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["busy_cores", "die_with_parent", "kill_group"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: SIGKILL this child when its parent dies (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL ``process``'s process group (it was started with ``start_new_session``)
    and reap it; nothing if it already ended."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


@contextmanager
def busy_cores(count: int | None = None, *, seconds: float = 300.0) -> Iterator[None]:
    """``count`` (default: one per core) busy loops for the block, each ending by itself
    after ``seconds`` at the latest, killed when the block ends or the test process dies."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    loops = [subprocess.Popen([sys.executable, "-c", code], preexec_fn=die_with_parent,
                              start_new_session=True)
             for _ in range(count or os.cpu_count() or 2)]
    try:
        yield
    finally:
        for loop in loops:
            kill_group(loop)

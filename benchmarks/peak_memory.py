"""Peak resident memory of the calling process, shared by the benchmark scripts.

Why not ``ru_maxrss`` alone: Linux carries it over from the parent across fork and exec,
so a contender started by a parent that had just written a large series would report the
parent's peak. ``VmHWM`` in ``/proc/self/status`` is this process image's own peak.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["peak_rss_mib"]


def peak_rss_mib() -> float:
    """Peak RSS of this process in MiB (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB

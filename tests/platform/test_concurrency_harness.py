"""Issue 28: a server a fixture starts dies with the test process, even a killed one.

``moto_server``, ``mlflow server``, Ray nodes and sweep drivers are started with
:func:`tests.platform.concurrency_harness.die_with_parent`; here a process starts a
child the same way and is then killed with SIGKILL (no teardown runs): the child must
end too, within a bounded wait.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from tests.platform.concurrency_harness import busy_cores
from tests.platform.sweep.harness import REPO_ROOT

_PARENT = """
import subprocess, sys, time
from tests.platform.concurrency_harness import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         preexec_fn=die_with_parent, start_new_session=True)
print(child.pid, flush=True)
time.sleep(300)
"""


def test_a_child_started_like_a_fixture_server_dies_with_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        assert child.is_running()
        parent.kill()  # SIGKILL: like a pytest killed by `timeout`
        parent.wait(30)
        gone, alive = psutil.wait_procs([child], timeout=30)
        assert not alive, "the child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_busy_cores_end_with_their_block() -> None:
    before = {p.pid for p in psutil.Process().children()}
    started = time.monotonic()
    with busy_cores(2, seconds=60):
        loops = [p for p in psutil.Process().children() if p.pid not in before]
        assert len(loops) == 2 and all(p.is_running() for p in loops)
    gone, alive = psutil.wait_procs(loops, timeout=30)
    assert not alive and time.monotonic() - started < 60

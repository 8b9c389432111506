"""Issue 28: a server a fixture starts dies with the test process, even a killed one.

``moto_server``, ``mlflow server``, PostgreSQL, Ray nodes and sweep drivers are started
with :func:`tests.platform.concurrency_harness.die_with_parent`; here a process starts a
child the same way and is then killed with SIGKILL (no teardown runs): the child must
end too, within a bounded wait. PostgreSQL is tested in a real pytest that is killed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.platform.cluster_harness import pg_binary
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


_HOLDS_POSTGRES = """
import time
from tests.platform.cluster_harness import Postgres

def test_hold_postgres():
    server = Postgres()
    server.start(())
    print("POSTGRES", server.pid, server.root, flush=True)
    time.sleep(300)
"""


@pytest.mark.skipif(pg_binary("initdb") is None, reason="PostgreSQL is not installed")
def test_postgres_of_a_killed_pytest_dies_with_it(tmp_path: Path) -> None:
    """It used to be a daemon of ``pg_ctl start`` and outlive a killed pytest."""
    (tmp_path / "test_hold.py").write_text(_HOLDS_POSTGRES)
    pytest_run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         str(tmp_path / "test_hold.py")], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    root = None
    try:
        assert pytest_run.stdout is not None
        for line in pytest_run.stdout:
            if line.startswith("POSTGRES "):
                _, pid, root = line.split()
                break
        assert root is not None, "the inner pytest never started PostgreSQL"
        server = psutil.Process(int(pid))
        family = [server, *server.children(recursive=True)]
        assert server.name() == "postgres" and len(family) > 1  # with its own processes
        pytest_run.kill()  # SIGKILL: no teardown, no fixture finaliser runs
        pytest_run.wait(30)
        gone, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"PostgreSQL outlived the killed pytest: {alive}"
    finally:
        if pytest_run.poll() is None:
            pytest_run.kill()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

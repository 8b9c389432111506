"""Fixtures shared by the whole suite: Ray, local and as a two-node cluster on loopback.

Every Ray process gets the same ``RAY_AUTH_MODE`` and the repository on ``PYTHONPATH``
(``platform.ray_env``). Nodes are pinned to 127.0.0.2 / 127.0.0.3 because Ray rewrites
127.0.0.1 to the machine's outward address; no test traffic leaves 127.0.0.0/8.
``ray stop`` is never used: it would kill every Ray on the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform.ray_env import ray_process_env, worker_runtime_env

os.environ.update({k: v for k, v in ray_process_env().items() if k.startswith("RAY_")})

HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local single-node Ray (2 CPUs, no dashboard, small object store) for the session."""
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        _node_ip_address=HEAD_IP,
        runtime_env=worker_runtime_env(),
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


def _ray_start(args: list[str], log: Path) -> subprocess.Popen:
    ray_cli = Path(sys.executable).with_name("ray")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ray_cli), "start", "--block", "--disable-usage-stats", *args],
            env=ray_process_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ray_two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real two-node Ray cluster (head 127.0.0.2, worker 127.0.0.3, 1 CPU each).

    Yields the head address; the test connects its own driver. Nodes are started with
    ``ray start --block`` in their own process groups and stopped by SIGTERM.
    """
    logs = tmp_path_factory.mktemp("ray-cluster")
    port = _free_port(HEAD_IP)
    address = f"{HEAD_IP}:{port}"
    head = _ray_start(
        [
            "--head",
            f"--node-ip-address={HEAD_IP}",
            f"--port={port}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--object-store-memory=100000000",
            "--resources={\"head_node\": 1}",
        ],
        logs / "head.log",
    )
    worker = None
    try:
        _wait_for_port(HEAD_IP, port, head, logs / "head.log")
        worker = _ray_start(
            [
                f"--address={address}",
                f"--node-ip-address={WORKER_IP}",
                "--num-cpus=1",
                "--object-store-memory=100000000",
                "--resources={\"worker_node\": 1}",
            ],
            logs / "worker.log",
        )
        yield address
    finally:
        for proc in (worker, head):
            if proc is not None:
                _stop(proc)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray head exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"ray head did not open {host}:{port} in 60 s:\n{log.read_text()[-3000:]}")

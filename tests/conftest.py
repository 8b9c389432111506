"""Fixtures shared by the whole suite: Ray, local and as a two-node cluster on loopback,
an S3-compatible server (moto) on loopback, one torch thread (restored), tiny synthetic
cohorts, and a free loopback port (:func:`free_port`, also used by the harness modules).

Every Ray process gets the same ``RAY_AUTH_MODE`` and the repository on ``PYTHONPATH``
(``platform.tune.env``). Nodes are pinned to 127.0.0.2 / 127.0.0.3 because Ray rewrites
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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from platform.tune.env import ray_process_env, worker_runtime_env
from tests.platform.concurrency_harness import die_with_parent

os.environ.update({k: v for k, v in ray_process_env().items() if k.startswith("RAY_")})

HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent without the plugin
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup`` (what ``make test`` runs): whole files, slow ones first, the
    files of one costly session fixture together (:mod:`tests.xdist_scheduling`)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_scheduling import SharedFixtureScheduling  # xdist: only when it runs

    return SharedFixtureScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist the workers collect, and the scheduler hands out whole files in
    their order: the files with slow tests go first, so that no worker is left with a long
    one at the end while the other idles. In one process nothing changes."""
    if not hasattr(config, "workerinput"):  # xdist's mark of a worker
        return
    slow_files = {item.nodeid.split("::", 1)[0] for item in items
                  if item.get_closest_marker("slow") or item.get_closest_marker("cluster")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow_files)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` now (the OS picks it), for a server to take."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the count it found."""
    import torch  # heavy: only the tests that use threads pay for the import

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test (test processes share 2 cores); the count it found is
    restored afterwards, also where the code under test set its own (``train.threads``),
    so no test's thread count leaks into the next (issue 28)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A factory of tiny synthetic DICOM cohorts: ``synthetic_cohort(patients, shape, seed,
    **options)`` returns the cohort's folder (``generate_cohort``'s settings and options).

    Each distinct setting is generated once per session and shared by the tests that ask
    for it, so treat the folder as read-only (write splits files and caches elsewhere).
    """
    from data_pipeline.synthetic.generator import generate_cohort  # pydicom, SimpleITK

    made: dict[tuple[object, ...], Path] = {}

    def make(patients: int, shape: tuple[int, int, int], seed: int, **options: object) -> Path:
        key = (patients, tuple(shape), seed, tuple(sorted(options.items())))
        if key not in made:
            folder = tmp_path_factory.mktemp(f"cohort-{patients}x{'x'.join(map(str, shape))}")
            generate_cohort(folder, patients, shape, seed, progress=False, **options)
            made[key] = folder
        return made[key]

    return make


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
            # Ray 2.60 drains a node for up to 30 s on SIGTERM (for Serve); a test
            # cluster has nothing to drain, and the wait ended every test session.
            env={**ray_process_env(), "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # a killed pytest takes its nodes with it (issue 28)
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
    port = free_port(HEAD_IP)
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
            raise RuntimeError(f"{log.stem} exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{log.stem} did not open {host}:{port} in 60 s:\n"
                       f"{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class S3Server:
    """A real S3 HTTP API (moto's server) on loopback, and the credentials it is used with."""

    endpoint: str
    access_key: str
    secret_key: str

    def environ(self) -> dict[str, str]:
        """What a process needs to reach it (keys from the environment, as on a cluster)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                # Never ask instance metadata (an address off this machine) for anything.
                "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self) -> object:
        """A boto3 S3 client on this server."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def bucket(self, name: str) -> str:
        """Create the bucket ``name`` (if new); return ``s3://name``."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets()["Buckets"]}  # type: ignore[attr-defined]
        if name not in existing:
            client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return f"s3://{name}"

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: key -> content."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # type: ignore[attr-defined]
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]  # type: ignore[attr-defined]
                found[item["Key"]] = body.read()
        return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``moto_server`` on 127.0.0.4 for the session (2-3 s to start); stopped by SIGTERM."""
    pytest.importorskip("moto", reason="pip install -e '.[dev]' (moto[server]) for S3 tests")
    host = "127.0.0.4"
    port = free_port(host)
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", host,
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)
    try:
        _wait_for_port(host, port, proc, log)
        # Made here, not written in this file: the cluster tests ship the sources to Ray
        # and then search every file for this secret.
        yield S3Server(f"http://{host}:{port}", "AKIATESTCLUSTER",
                       f"planted-s3-secret-{uuid.uuid4().hex[:12]}")
    finally:
        _stop(proc)

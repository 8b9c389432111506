"""A lab's set-up on loopback, for the cluster tests: PostgreSQL, MLflow with basic auth, and
a two-node Ray cluster whose nodes share no directory.

Every server is real and listens on 127.0.0.0/8 only: PostgreSQL on 127.0.0.1, ``mlflow
server --app-name basic-auth`` on 127.0.0.1 (backend store in PostgreSQL, artifacts on an
S3 server), Ray's head on 127.0.0.2 and a second node on 127.0.0.3, each with its own
``--temp-dir`` (Ray Tune's local trial folders live there, so the nodes do not share
one). Each class starts its server, says where it is and stops it; the test module owns
their lifetimes through fixtures. ``ray stop`` is never used.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import psutil

from platform.tune.env import REPO_ROOT, ray_process_env
from tests.conftest import free_port
from tests.platform.concurrency_harness import die_with_parent

__all__ = ["LoopbackCluster", "MlflowAuthServer", "MlflowServer", "Postgres", "pg_binary"]

_START_TIMEOUT_S = 120.0
# The GCS marks a silent node dead after period x threshold (Ray's defaults: 3 s x 5 after
# a 5 s delay); a test that kills a node need not wait 15 s for it.
_FAST_FAILURE_DETECTION = {"RAY_health_check_period_ms": "1000",
                           "RAY_health_check_failure_threshold": "3",
                           "RAY_health_check_initial_delay_ms": "1000"}


def _wait(condition: object, what: str, process: subprocess.Popen, log: Path,
          timeout: float = _START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _kill_tree(process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    """Signal a process and every descendant (collected first: a dead parent loses them)."""
    if process.poll() is not None:
        return
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.send_signal(sig)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(family, timeout=wait)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            continue
    process.wait(timeout=30)


def pg_binary(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust authentication, user ``admin``).

    PostgreSQL refuses to run as root, so as root the data folder belongs to the
    ``postgres`` user, ``initdb`` runs through ``runuser`` (STACK_NOTES.md) and the server
    switches to that user before it starts.
    """

    def __init__(self) -> None:
        # Short and outside pytest's root-only folders: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.port = free_port("127.0.0.1")
        self._as_owner: list[str] = []
        self._process: subprocess.Popen | None = None
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, program: str, *args: str) -> None:
        binary = pg_binary(program)
        if binary is None:
            raise RuntimeError(f"{program} not found: install PostgreSQL (apt-get install "
                               "postgresql; .ci/run does it)")
        done = subprocess.run([*self._as_owner, binary, *args], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self, databases: tuple[str, ...]) -> None:
        """initdb, start on ``self.port``, create ``databases`` owned by the role ``mlflow``
        as infra/README.md does (about 3 s): PostgreSQL 15+ lets only a database's owner
        create tables in its ``public`` schema, so MLflow must connect as the owner.

        The server is ``postgres`` itself, a child of this process that dies with it
        (:func:`die_with_parent`), not a daemon of ``pg_ctl start``, which outlived a
        killed pytest (issue 28)."""
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "admin", "--no-sync")
        binary = pg_binary("postgres")
        if binary is None:
            raise RuntimeError("postgres not found beside initdb")
        with (self.root / "log").open("wb") as sink:
            self._process = subprocess.Popen(
                [binary, "-D", str(data), "-p", str(self.port), "-k", str(self.root),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=60"],
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=self._as_owner_dying_with_parent)
        _wait(self._accepting, "postgres", self._process, self.root / "log")
        import psycopg2

        connection = psycopg2.connect(self.uri("postgres"))
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("CREATE ROLE mlflow LOGIN")
                for name in databases:
                    cursor.execute(f'CREATE DATABASE "{name}" OWNER mlflow')
        finally:
            connection.close()

    @property
    def pid(self) -> int | None:
        """The server's (postmaster's) process id, once started."""
        return None if self._process is None else self._process.pid

    def _as_owner_dying_with_parent(self) -> None:
        """``preexec_fn``: become the ``postgres`` user when root, then ask for SIGKILL
        when the parent dies (after the user change, which clears that setting)."""
        if self._as_owner:
            owner = pwd.getpwnam("postgres")
            os.setgroups([])
            os.setgid(owner.pw_gid)
            os.setuid(owner.pw_uid)
        die_with_parent()

    def _accepting(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.uri("postgres"), connect_timeout=2).close()
        except psycopg2.OperationalError:  # not listening yet, or still starting up
            return False
        return True

    def uri(self, database: str) -> str:
        """``postgresql://admin@127.0.0.1:PORT/database``."""
        return f"postgresql://admin@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_uri(self, database: str) -> str:
        """``database`` as the role ``mlflow``, for SQLAlchemy (MLflow): the driver named,
        since SQLAlchemy 2.1 takes ``postgresql://`` to mean psycopg 3."""
        return self.uri(database).replace("postgresql://admin@",
                                          "postgresql+psycopg2://mlflow@", 1)

    def dump(self, database: str) -> str:
        """Every row of every table of ``database``, as text (what a leak would be in)."""
        import psycopg2

        lines = []
        with psycopg2.connect(self.uri(database)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for (table,) in cursor.fetchall():
                cursor.execute(f'SELECT * FROM "{table}"')
                lines += [f"{table}: {row!r}" for row in cursor.fetchall()]
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop the server (SIGQUIT: PostgreSQL's immediate shutdown) and delete its folder."""
        if self._process is not None:
            _kill_tree(self._process, signal.SIGQUIT)
        shutil.rmtree(self.root, ignore_errors=True)


class _MlflowProcess:
    """What both MLflow servers share: a logged server process that dies with pytest, its
    ``/health`` wait and its stop. A subclass sets ``url``, ``log``, ``_command``, ``_env``
    and ``_cwd`` (None: pytest's)."""

    url: str
    log: Path
    _command: list[str]
    _env: dict[str, str]
    _cwd: Path | None = None
    _process: subprocess.Popen | None = None

    def launch(self) -> None:
        """Start the server; :meth:`wait` until it answers."""
        with self.log.open("wb") as sink:
            self._process = subprocess.Popen(self._command, env=self._env, cwd=self._cwd,
                                             stdout=sink, stderr=subprocess.STDOUT,
                                             start_new_session=True,
                                             preexec_fn=die_with_parent)

    def wait(self) -> None:
        """Return once ``/health`` answers (15-40 s after :meth:`launch` here)."""
        assert self._process is not None, "launch() first"
        _wait(self._healthy, "mlflow server", self._process, self.log, timeout=180)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM the server and what it started."""
        if self._process is not None:
            _kill_tree(self._process)


class MlflowAuthServer(_MlflowProcess):
    """The lab's MLflow server, started by ``infra/mlflow-server.sh`` as a lab would.

    Basic auth on, runs in PostgreSQL, artifacts on S3 (proxied: clients never need S3
    keys). The admin's password reaches the server through ``MLFLOW_AUTH_ADMIN_PASSWORD``
    only; clients pass it through ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``.
    """

    def __init__(self, root: Path, *, backend: str, auth_db: str, artifacts: str,
                 password: str, s3_environ: Mapping[str, str]) -> None:
        self.root, self.port = root, free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.hostname = "mlflow-host.lab.test"  # what clients would call it (issue 22)
        self.log = root / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env.update(s3_environ)
        env.update({
            "MLFLOW_BACKEND": backend, "MLFLOW_AUTH_DB": auth_db, "MLFLOW_ARTIFACTS": artifacts,
            "MLFLOW_HOST": "127.0.0.1", "MLFLOW_PORT": str(self.port), "MLFLOW_WORKERS": "1",
            "MLFLOW_STATE": str(root), "MLFLOW": str(Path(sys.executable).parent / "mlflow"),
            "MLFLOW_SERVER_ALLOWED_HOSTS": f"{self.hostname}:*",
            "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex(),
            "MLFLOW_S3_ENDPOINT_URL": s3_environ["AWS_ENDPOINT_URL"]})
        self._env = env
        self._command = ["bash", str(REPO_ROOT / "infra" / "mlflow-server.sh")]


class MlflowServer(_MlflowProcess):
    """A plain ``mlflow server`` on 127.0.0.1: runs in ``backend`` (PostgreSQL here),
    artifacts served from a local folder, no auth (the concurrency tests' store)."""

    def __init__(self, root: Path, *, backend: str) -> None:
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self._env, self._cwd = env, root
        self._command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host",
                         "127.0.0.1", "--port", str(self.port), "--backend-store-uri", backend,
                         "--artifacts-destination", str(root / "artifacts"), "--workers", "2"]

    def start(self) -> None:
        """Start the server and return once ``/health`` answers."""
        self.launch()
        self.wait()


class LoopbackCluster:
    """A Ray head on 127.0.0.2 and a second node on 127.0.0.3, 1 CPU each, own temp dirs,
    started from a folder outside the repository and without it on ``PYTHONPATH``.

    ``ray start --block`` per node, in its own session; :meth:`kill_worker` ends the
    second node abruptly (SIGKILL of its raylet, its workers and everything else it
    started), as when a machine dies mid-sweep.
    """

    HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"

    def __init__(self, root: Path) -> None:
        # Short paths: Ray's Unix sockets live under the temp dir (107-byte limit).
        self.temp_dirs = {ip: Path(tempfile.mkdtemp(prefix=f"ray{ip[-1]}-", dir="/tmp"))
                          for ip in (self.HEAD_IP, self.WORKER_IP)}
        self.logs = root
        self.port = free_port(self.HEAD_IP)
        self.address = f"{self.HEAD_IP}:{self.port}"
        self._nodes: dict[str, subprocess.Popen] = {}

    def _start(self, ip: str, args: list[str]) -> subprocess.Popen:
        log = self.logs / f"ray-{ip}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("ray")), "start", "--block",
                 "--disable-usage-stats", f"--node-ip-address={ip}", "--num-cpus=1",
                 "--object-store-memory=100000000", f"--temp-dir={self.temp_dirs[ip]}", *args],
                env=self._node_environ(), stdout=out, cwd=self.temp_dirs[ip],
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
        self._nodes[ip] = process
        return process

    @staticmethod
    def _node_environ() -> dict[str, str]:
        """A node's environment: Ray's settings alike everywhere, and NOT this repository on
        ``PYTHONPATH`` (as on a node whose image lacks the code: sweeps ship it)."""
        env = {**ray_process_env(), **_FAST_FAILURE_DETECTION}
        paths = [p for p in env["PYTHONPATH"].split(os.pathsep) if p and p != str(REPO_ROOT)]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def start(self) -> None:
        """Start the head, then the second node; return when both are alive in the GCS."""
        head = self._start(self.HEAD_IP, ["--head", f"--port={self.port}",
                                          "--include-dashboard=false"])
        _wait(lambda: _port_open(self.HEAD_IP, self.port), "ray head", head,
              self.logs / f"ray-{self.HEAD_IP}.log")
        self.start_worker()

    def start_worker(self) -> None:
        """(Re)start the second node and wait until the head counts two live nodes."""
        worker = self._start(self.WORKER_IP, [f"--address={self.address}"])
        _wait(lambda: self.alive_nodes() == 2, "ray worker node", worker,
              self.logs / f"ray-{self.WORKER_IP}.log")

    def alive_nodes(self) -> int:
        """Live nodes according to ``ray status`` (no driver needed)."""
        done = subprocess.run([str(Path(sys.executable).with_name("ray")), "status",
                               f"--address={self.address}"], env=ray_process_env(),
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return 0
        # Only the "Active:" section: dead nodes are listed under "Recent failures:".
        active = done.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return active.count("node_")

    def worker_alive(self) -> bool:
        """Whether the second node's ``ray start`` process still runs."""
        process = self._nodes.get(self.WORKER_IP)
        return process is not None and process.poll() is None

    def worker_processes(self) -> list[psutil.Process]:
        """The second node's processes (raylet, workers, agents)."""
        process = self._nodes.get(self.WORKER_IP)
        if process is None or process.poll() is not None:
            return []
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]

    def kill_worker(self) -> None:
        """SIGKILL the second node and everything it started: a machine that died."""
        process = self._nodes[self.WORKER_IP]
        _kill_tree(process, signal.SIGKILL, wait=10)

    def stop(self) -> None:
        """Stop both nodes and delete their temp dirs (SIGKILL: nothing of a private test
        cluster lives outside them, and a graceful stop costs seconds)."""
        for ip in (self.WORKER_IP, self.HEAD_IP):
            if ip in self._nodes:
                _kill_tree(self._nodes[ip], signal.SIGKILL, wait=10)
        for folder in self.temp_dirs.values():
            shutil.rmtree(folder, ignore_errors=True)

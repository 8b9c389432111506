"""A real single-node Slurm cluster on loopback, for tests/infra/test_slurm.py.

Debian's packages (``slurm-wlm``, ``munge``; ``.ci/run`` installs them): ``munged`` with a
fresh key, ``slurmctld`` and one ``slurmd`` (node ``node1`` at 127.0.0.1), each in the
foreground in its own session, every file (config, state, spool, logs, the munge socket)
in one private folder, so nothing of the machine's own Slurm or munge is used or touched.
Settings a container allows: no cgroups (``proctrack/linuxproc``, ``task/affinity``, no
job accounting). Two stand-in GPUs make ``--gres=gpu:N`` and ``--gpus-per-node=N`` real
allocations: GRES needs a device file per GPU, and ``/dev/null`` and ``/dev/zero`` serve
(nothing constrains devices without cgroups; Ray and the trials never open them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

__all__ = ["PROGRAMS", "LocalSlurm", "dies_with_parent", "missing_programs"]

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo")
_START_TIMEOUT_S = 60.0


def missing_programs() -> list[str]:
    """Programs of :data:`PROGRAMS` that are not installed (``/usr/sbin`` included)."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    return [name for name in PROGRAMS if shutil.which(name, path=path) is None]


def dies_with_parent(command: list[str]) -> list[str]:
    """``command`` behind ``setpriv --pdeathsig TERM`` (util-linux) where it exists: a
    server a fixture started must not outlive a test run killed before its teardown."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def _program(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install slurm-wlm munge (.ci/run does it)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalSlurm:
    """``munged`` + ``slurmctld`` + ``slurmd`` in ``self.root`` (a short folder in /tmp).

    Args:
        cpus: the node's CPUs as Slurm sees them (at most the machine's).
    """

    NODE = "node1"

    def __init__(self, cpus: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        self.cpus = cpus
        self.conf = self.root / "slurm.conf"
        # The node's scratch folder (jobs get SLURM_TMPDIR=scratch): Ray's temp dirs go
        # there, so stop() finds what a job left running by that path.
        self.scratch = self.root / "tmp"
        self._daemons: dict[str, subprocess.Popen] = {}

    def environ(self) -> dict[str, str]:
        """The environment for Slurm's client commands (``sbatch`` and friends)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        munge = self.root / "munge"
        user = pwd.getpwuid(os.geteuid()).pw_name
        for folder in ("state", "spool", "log", "munge", "tmp"):
            (self.root / folder).mkdir()
        munge.chmod(0o711)  # munged: the socket's folder must be searchable, not writable
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text("\n".join([
            "ClusterName=testcluster",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"SlurmUser={user}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={munge / 'munge.sock'}",
            "CredType=cred/munge",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            # A container has no cgroup hierarchy of its own to give Slurm.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/affinity",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "GresTypes=gpu",
            # A cancelled job's steps get SIGKILL 5 s after SIGTERM (default 30 s); a
            # finished job stays visible to `scontrol show job` for 10 minutes.
            "KillWait=5",
            "MinJobAge=600",
            "ReturnToService=2",
            f"NodeName={self.NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=2000 "
            "Gres=gpu:2 State=UNKNOWN",
            f"PartitionName=debug Nodes={self.NODE} Default=YES MaxTime=INFINITE State=UP",
            ""]))
        (self.root / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.NODE} Name=gpu File=/dev/null\n"
            f"NodeName={self.NODE} Name=gpu File=/dev/zero\n")

    def _daemon(self, *command: str) -> None:
        name = Path(command[0]).name
        with (self.root / "log" / f"{name}.out").open("wb") as log:
            self._daemons[name] = subprocess.Popen(
                dies_with_parent(list(command)), stdout=log, stderr=subprocess.STDOUT,
                cwd=self.root, env=self.environ(), start_new_session=True)

    def start(self) -> None:
        """Write the config and start the three daemons; return once the node is idle
        (about 3 s)."""
        self._write_config()
        munge = self.root / "munge"
        self._daemon(_program("munged"), "--foreground", "--force",
                     f"--socket={munge / 'munge.sock'}", f"--key-file={munge / 'munge.key'}",
                     f"--pid-file={munge / 'munged.pid'}", f"--seed-file={munge / 'seed'}",
                     f"--log-file={munge / 'munged.log'}")
        self._wait(lambda: (munge / "munge.sock").exists(), "munged")
        self._daemon(_program("slurmctld"), "-D", "-i", "-f", str(self.conf))
        self._daemon(_program("slurmd"), "-D", "-N", self.NODE, "-f", str(self.conf))
        self._wait(lambda: self._node_state() == "idle", "the Slurm node")

    def _node_state(self) -> str:
        done = subprocess.run([_program("sinfo"), "-h", "-n", self.NODE, "-o", "%T"],
                              env=self.environ(), capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    def _wait(self, condition: object, what: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, daemon in self._daemons.items():
                if daemon.poll() is not None:
                    raise RuntimeError(f"{name} exited with {daemon.returncode}:\n{self.logs()}")
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.5)
        raise TimeoutError(f"{what} not ready after {_START_TIMEOUT_S:.0f} s:\n{self.logs()}")

    def logs(self) -> str:
        """The end of every daemon log (for a failure message)."""
        return "\n".join(f"== {path.name}\n{path.read_text(errors='replace')[-2000:]}"
                         for path in sorted((self.root / "log").iterdir()))

    def submit(self, options: list[str], script: Path, args: list[str],
               settings: Mapping[str, str]) -> str:
        """``sbatch --parsable OPTIONS SCRIPT ARGS`` with ``settings`` in the job's
        environment (sbatch exports the caller's): the job id."""
        done = subprocess.run([_program("sbatch"), "--parsable", *options, str(script), *args],
                              env={**self.environ(), **settings}, capture_output=True,
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"sbatch {script.name} failed: {done.stderr}")
        return done.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job``: ``JobState``, ``ExitCode`` and the rest, as a dict."""
        done = subprocess.run([_program("scontrol"), "-o", "show", "job", job_id],
                              env=self.environ(), capture_output=True, text=True, timeout=30)
        return dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)

    def steps(self, job_id: str) -> list[dict[str, str]]:
        """``scontrol show step JOB``, one dict per running step (``Name``, ``CPUs``...)."""
        done = subprocess.run([_program("scontrol"), "-o", "show", "step", job_id],
                              env=self.environ(), capture_output=True, text=True, timeout=30)
        return [dict(item.split("=", 1) for item in line.split() if "=" in item)
                for line in done.stdout.splitlines() if line.strip()]

    def wait_job(self, job_id: str, timeout: float) -> dict[str, str]:
        """Wait until the job has ended (any state but pending, running, completing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job.get("JobState") not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"):
                return job
            time.sleep(1)
        raise TimeoutError(f"job {job_id} still {self.job(job_id).get('JobState')} after "
                           f"{timeout:.0f} s")

    def cancel(self, job_id: str) -> None:
        """``scancel JOB`` (SIGTERM to every step, SIGKILL after KillWait)."""
        subprocess.run([_program("scancel"), job_id], env=self.environ(), check=True,
                       timeout=30)

    def stop(self) -> None:
        """Cancel what still runs, stop the daemons, SIGKILL anything a job left behind
        (processes whose command line names this folder, and their children), delete the
        folder."""
        if "slurmctld" in self._daemons and self._daemons["slurmctld"].poll() is None:
            subprocess.run([_program("scancel"), "--user", pwd.getpwuid(os.geteuid()).pw_name],
                           env=self.environ(), timeout=30, check=False)
        for daemon in reversed(self._daemons.values()):
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait(timeout=15)
        self._kill_leftovers()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        left: list[psutil.Process] = []
        for process in psutil.process_iter(["cmdline"]):
            if any(str(self.root) in part for part in process.info["cmdline"] or ()):
                try:
                    left += [process, *process.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
        for process in left:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(left, timeout=10)

"""infra/slurm/ray-sweep.sbatch (issue 22): its pieces in isolation, then the whole script
on a real single-node Slurm.

The pieces: the GPUs and CPUs it gives each Ray node for every way a site allocates them
(``--gpus-per-node``, ``--gres=gpu:N``, ``--cpus-per-task``), and its waits, which end at
their timeout or as soon as the srun step that should answer has died, instead of
holding the allocation until the job's time limit.

The whole script (marker ``slow``): Debian's Slurm and munge on loopback
(``slurm_harness.LocalSlurm``), a plain ``mlflow server`` on 127.0.0.1 and the tiny sweep.
A first job (a ``--gres`` site's copy of the script) is cancelled once a trial has a
checkpoint, as a preemption or the time limit would; the same command resubmitted (now
with ``--gpus-per-node``) continues that sweep from its checkpoints and completes it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.slurm_harness import LocalSlurm, dies_with_parent, missing_programs

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "infra" / "slurm" / "ray-sweep.sbatch"
TINY_SWEEP = REPO_ROOT / "sweeps" / "tiny.yaml"
JOB_TIMEOUT_S = 300


def _source(snippet: str, **environ: str) -> subprocess.CompletedProcess:
    """Run ``snippet`` in bash after sourcing the script (its functions only, no job)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(["bash", "-c", f'. "{SCRIPT}"; {snippet}'],
                          env={**clean, **environ}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("environ", "gpus"), [
    ({"SLURM_GPUS_PER_NODE": "4", "SLURM_GPUS_ON_NODE": "4"}, "4"),   # --gpus-per-node=4
    ({"SLURM_GPUS_PER_NODE": "a100:4", "SLURM_GPUS_ON_NODE": "4"}, "4"),
    ({"SLURM_GPUS_ON_NODE": "2"}, "2"),                                 # --gres=gpu:2
    ({"SLURM_GPUS_PER_NODE": "0", "SLURM_GPUS_ON_NODE": "2"}, "2"),     # ... with --gpus-per-node=0
    ({"SLURM_GPUS_PER_NODE": "a100:4"}, "4"),                           # older Slurm
    ({"SLURM_JOB_GPUS": "0,1,2"}, "3"),
    ({}, "0"),
], ids=["gpus-per-node", "typed", "gres", "gres-over-zero", "request-only", "gpu-ids", "none"])
def test_each_ray_node_gets_the_gpus_slurm_allocated(environ: dict[str, str], gpus: str) -> None:
    done = _source("gpus_per_node", **environ)
    assert (done.returncode, done.stdout.strip()) == (0, gpus), done.stderr


@pytest.mark.parametrize(("environ", "cpus"), [
    ({"SLURM_CPUS_PER_TASK": "32", "SLURM_CPUS_ON_NODE": "64"}, "32"),
    ({"SLURM_CPUS_ON_NODE": "16"}, "16"),
    ({}, "1"),
])
def test_each_ray_node_gets_the_cpus_of_its_task(environ: dict[str, str], cpus: str) -> None:
    done = _source("cpus_per_node", **environ)
    assert (done.returncode, done.stdout.strip()) == (0, cpus), done.stderr


def test_every_srun_step_asks_for_the_tasks_cpus() -> None:
    """Since Slurm 22.05 a step does not inherit --cpus-per-task: each `ray start` step
    must ask for it (the real job below checks what Slurm gave the step)."""
    steps = [line for line in SCRIPT.read_text().split("srun ")[1:] if "ray start" in line]
    assert len(steps) == 2 and all('--cpus-per-task="$cpus"' in step for step in steps)


def test_a_wait_gives_up_at_its_timeout() -> None:
    started = time.monotonic()
    done = _source('wait_for "the Ray head" 1 "$$" false')
    assert done.returncode == 1 and "the Ray head: not ready after 1 s" in done.stderr
    assert time.monotonic() - started < 10


def test_a_wait_gives_up_at_once_when_its_step_has_died() -> None:
    started = time.monotonic()
    done = _source('sleep 0 & pid=$!; wait "$pid"; wait_for "the Ray workers" 600 "$$ $pid" false')
    assert done.returncode == 1 and "the Ray workers: its srun step" in done.stderr
    assert time.monotonic() - started < 10


def test_a_wait_returns_when_its_condition_holds() -> None:
    assert _source('wait_for "the Ray head" 5 "$$" true').returncode == 0


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _MlflowServer:
    """A plain ``mlflow server`` (SQLite, local artifacts) on 127.0.0.1: what the sweep
    requires of a cluster's tracking store is an HTTP server."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.url = f"http://127.0.0.1:{_free_port('127.0.0.1')}"
        self.log = root / "server.log"
        with self.log.open("wb") as sink:
            # From its own folder: the repository's `platform` must not shadow the stdlib.
            self._process = subprocess.Popen(dies_with_parent(
                [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
                 "--port", self.url.rsplit(":", 1)[1], "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                 "--artifacts-destination", str(root / "artifacts")]),
                cwd=root, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"mlflow server not up after {timeout} s")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)


@pytest.fixture
def slurm_and_mlflow(tmp_path: Path) -> Iterator[tuple[LocalSlurm, _MlflowServer]]:
    missing = missing_programs()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge; "
                    ".ci/run does it)")
    if os.geteuid() != 0:
        pytest.skip("slurmd starts each job as its user, so it runs as root")
    mlflow = _MlflowServer(tmp_path / "mlflow")
    slurm = LocalSlurm(cpus=min(2, os.cpu_count() or 1))
    try:
        slurm.start()  # while MLflow creates its database
        mlflow.wait()
        yield slurm, mlflow
    finally:
        slurm.stop()
        mlflow.stop()


def _checkpoint_recorded(storage: Path, slurm: LocalSlurm, job: str, log: Path) -> None:
    """Wait until Ray Tune's experiment state in ``storage`` names a trial's checkpoint
    (a checkpoint on disk that the state does not name yet would be trained again)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not any("checkpoint_0" in state.read_text(errors="replace")
                  for state in storage.glob("*/experiment_state-*.json")):
        state = slurm.job(job).get("JobState")
        assert state in ("PENDING", "CONFIGURING", "RUNNING"), (
            f"job {job} {state} before a checkpoint:\n{log.read_text()[-4000:]}")
        assert time.monotonic() < deadline, f"no checkpoint:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


def _result_rows(experiment: Path) -> list[dict]:
    """Every result row of every trial of one stored Ray Tune experiment."""
    return [json.loads(line) for result in experiment.glob("*/result.json")
            for line in result.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 2 minutes; 4-5 on a machine loaded 6x its cores
def test_a_slurm_job_runs_the_sweep_and_its_resubmission_resumes_it(
    slurm_and_mlflow: tuple[LocalSlurm, _MlflowServer], tmp_path: Path
) -> None:
    slurm, mlflow = slurm_and_mlflow
    storage, cpus = tmp_path / "storage", str(slurm.cpus)
    settings = {
        "REPO": str(REPO_ROOT), "VENV": str(Path(sys.executable).parents[1]),
        "MLFLOW_URI": mlflow.url, "STORAGE": str(storage), "CACHE": str(tmp_path / "cache"),
        "SLURM_TMPDIR": str(slurm.scratch), "CREDENTIALS": str(tmp_path / "none.env"),
        # Ray rewrites 127.0.0.1 to the machine's outward address: keep it on loopback.
        "HEAD_IP": "127.0.0.2", "RAY_PORT": str(_free_port("127.0.0.2")),
        "RAY_START_ARGS": "--object-store-memory=100000000",
        # Ray Tune saves its experiment state every second (not every ~10 s), so the first
        # job can be cancelled soon after a checkpoint, and the test stays short.
        "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    options = ["--nodes=1", f"--cpus-per-task={cpus}", "--time=10", f"--chdir={tmp_path}",
               f"--output={tmp_path}/job-%j.log"]
    sweep = [str(TINY_SWEEP), "train.iterations=40", "resources.max_concurrent_trials=2"]
    # A site that allocates GPUs with --gres edits the #SBATCH line so.
    gres_site = tmp_path / "gres-site.sbatch"
    gres_site.write_text(SCRIPT.read_text().replace("#SBATCH --gpus-per-node=4",
                                                    "#SBATCH --gres=gpu:2"))

    first = slurm.submit(options, gres_site, sweep, settings)
    first_log = tmp_path / f"job-{first}.log"
    _checkpoint_recorded(storage, slurm, first, first_log)
    ray_steps = [s for s in slurm.steps(first) if s.get("Name") == "ray"]
    slurm.cancel(first)  # preempted, or out of time
    assert slurm.wait_job(first, JOB_TIMEOUT_S)["JobState"] == "CANCELLED"
    # Slurm gave the `ray start` step the task's CPUs, and Ray got the --gres GPUs.
    assert [s["CPUs"] for s in ray_steps] == [cpus], ray_steps
    assert f"1 node(s), {cpus} CPUs and 2 GPUs each" in first_log.read_text()

    second = slurm.submit(["--gpus-per-node=1", *options], SCRIPT, sweep, settings)
    job = slurm.wait_job(second, JOB_TIMEOUT_S)
    log = (tmp_path / f"job-{second}.log").read_text()
    assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0"), log[-6000:]
    assert f"1 node(s), {cpus} CPUs and 1 GPUs each" in log
    assert "tiny: trials: 2/2 done, 0 running, 0 failed" in log
    # The same experiment in the same storage (no job id in its path), and a trial that
    # continued from the first job's checkpoint rather than from iteration 0.
    (experiment,) = [p for p in storage.iterdir() if p.is_dir()]
    rows = _result_rows(experiment)
    assert any(row["training_iteration"] > row["iterations_since_restore"] for row in rows), (
        [(r["training_iteration"], r["iterations_since_restore"]) for r in rows])

"""Past one machine (issue 12): a sweep on a two-node Ray cluster without a shared folder.

Real components on loopback, shared by the module: a Ray head (127.0.0.2) and a second
node (127.0.0.3), each with its own temp dir; Ray Tune's storage on an S3 server (moto,
127.0.0.4); ``mlflow server --app-name basic-auth`` on 127.0.0.1 with its backend store
in PostgreSQL and its artifacts on S3. The sweep is the command line, run as a user
would, with MLflow's user and password and the S3 keys in its environment only. What is
checked: a request without credentials is refused; trials run on both nodes and their
checkpoints are read back from the object store; a planted password and S3 key appear
in no output (the sweep's output, the MLflow store, both buckets, every file the nodes
and the test wrote); the second node killed mid-sweep has its trials retried on the head
from their stored checkpoints, and the table is complete.

Cross-cutting: the whole stack on a cluster (sweep, tune, trial, tracking), so it mirrors
no single module and sits at the top of ``tests/platform/`` with ``cluster_harness.py``.
"""

from __future__ import annotations

import base64
import csv
import io
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from platform.config import load_sweep
from platform.trial.parts import training_parts
from platform.trial.training import load_checkpoint
from platform.tune.storage import RayStorage
from tests.conftest import S3Server
from tests.platform.cluster_harness import LoopbackCluster, MlflowAuthServer, Postgres, pg_binary
from tests.platform.sweep.harness import (
    SWEEP_TIMEOUT_S,
    TINY_SWEEP,
    SweepProcess,
    child_runs,
    wait_until,
    warm_cache,
    write_sweep,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(pg_binary("initdb") is None,
                       reason="PostgreSQL is not installed (.ci/run installs it)"),
]

PASSWORD = f"planted-mlflow-password-{uuid.uuid4().hex[:12]}"
"""The MLflow admin's password: given to the server and the sweep's environment only."""
RAY_BUCKET, ARTIFACT_BUCKET = "ray-storage", "mlflow-artifacts"


class Lab:
    """What a lab runs: S3, PostgreSQL + MLflow with auth, the Ray cluster."""

    def __init__(self, root: Path, s3: S3Server, postgres: Postgres, mlflow: MlflowAuthServer,
                 cluster: LoopbackCluster, cache: Path) -> None:
        self.root, self.s3, self.postgres = root, s3, postgres
        self.mlflow, self.cluster, self.cache = mlflow, cluster, cache

    def client_environ(self) -> dict[str, str]:
        """A user's environment: MLflow's user and password, the S3 keys."""
        return {**self.s3.environ(), "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": PASSWORD}

    def overrides(self, prefix: str) -> list[str]:
        """The sweep's settings for this cluster (no credentials among them)."""
        return [f"ray.address={self.cluster.address}", "ray.num_cpus=null",
                f"ray.node_ip_address={LoopbackCluster.HEAD_IP}",
                f"ray.storage_path=s3://{RAY_BUCKET}/{prefix}",
                f"ray.storage_endpoint={self.s3.endpoint}", f"tracking.uri={self.mlflow.url}",
                f"data.cache_root={self.cache}", "resources.max_concurrent_trials=2",
                # The nodes do not have the code on their path: the sweep uploads it.
                "ray.ship_code=true"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab")
    cache = tmp_path_factory.getbasetemp() / "sweep-cache"  # shared with sweep/test_run.py
    warm_cache(cache)
    for bucket in (RAY_BUCKET, ARTIFACT_BUCKET):
        s3_server.bucket(bucket)
    postgres = Postgres()
    cluster = LoopbackCluster(root)
    mlflow = None
    try:
        postgres.start(("mlflow", "mlflow_auth"))
        (root / "mlflow").mkdir()
        mlflow = MlflowAuthServer(root / "mlflow", backend=postgres.sqlalchemy_uri("mlflow"),
                                  auth_db=postgres.sqlalchemy_uri("mlflow_auth"),
                                  artifacts=f"s3://{ARTIFACT_BUCKET}", password=PASSWORD,
                                  s3_environ=s3_server.environ())
        mlflow.launch()
        cluster.start()  # while MLflow creates its schemas
        mlflow.wait()
        yield Lab(root, s3_server, postgres, mlflow, cluster, cache)
    finally:
        cluster.stop()
        if mlflow is not None:
            mlflow.stop()
        postgres.stop()


@pytest.fixture
def as_user(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process reads MLflow and S3 with the user's environment."""
    for key, value in lab.client_environ().items():
        monkeypatch.setenv(key, value)


def _status(url: str, password: str | None, host: str | None = None) -> int:
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/search?max_results=1")
    if host is not None:  # the name a client used, as a Host header (no /etc/hosts edit)
        request.add_header("Host", host)
    if password is not None:
        token = base64.b64encode(f"admin:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_the_lab_mlflow_refuses_a_request_without_credentials(lab: Lab) -> None:
    assert _status(lab.mlflow.url, None) == 401
    assert _status(lab.mlflow.url, "wrong-password") == 401
    assert _status(lab.mlflow.url, PASSWORD) == 200


def test_the_lab_mlflow_answers_clients_that_use_its_hostname(lab: Lab) -> None:
    """Issue 22: MLflow 3.17 answers 403 to an API call whose Host header it does not know
    (/health is exempt); infra/mlflow-server.sh allows MLFLOW_SERVER_ALLOWED_HOSTS."""
    port = lab.mlflow.port
    assert _status(lab.mlflow.url, PASSWORD, host=f"{lab.mlflow.hostname}:{port}") == 200
    assert _status(lab.mlflow.url, PASSWORD, host=f"elsewhere.example:{port}") == 403


def _checkpoints(lab: Lab, prefix: str) -> dict[str, list[str]]:
    """``trial_id -> checkpoint.pt keys`` stored under ``prefix`` of the Ray bucket."""
    found: dict[str, list[str]] = {}
    for key in lab.s3.objects(RAY_BUCKET):
        parts = key.split("/")
        if key.startswith(f"{prefix}/") and parts[-1] == "checkpoint.pt" and len(parts) == 5:
            found.setdefault(parts[2], []).append(key)
    return found


def _outputs(lab: Lab, tmp_path: Path) -> dict[str, bytes]:
    """Everything the sweep could have written a credential into, by where it is."""
    outputs = {f"s3://{bucket}/{key}": body for bucket in (RAY_BUCKET, ARTIFACT_BUCKET)
               for key, body in lab.s3.objects(bucket).items()}
    outputs["postgres mlflow"] = lab.postgres.dump("mlflow").encode()
    folders = [tmp_path, lab.root, *lab.cluster.temp_dirs.values()]
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    outputs[str(path)] = path.read_bytes()
                except OSError:  # a socket or a file removed meanwhile
                    continue
    return outputs


def _line_with(body: bytes, secret: bytes) -> bytes:
    """The start of the line where ``secret`` appears (the secret itself left out)."""
    at = body.find(secret)
    return body[body.rfind(b"\n", 0, at) + 1:at][:300]


def test_a_sweep_runs_on_both_nodes_with_s3_storage_and_the_lab_mlflow(
    lab: Lab, tmp_path: Path, as_user: None
) -> None:
    overrides = ["cv.run_folds=[0,1]", *lab.overrides("both-nodes")]
    log = tmp_path / "sweep.log"
    with SweepProcess([TINY_SWEEP, *overrides], cwd=tmp_path, log=log,
                      env=lab.client_environ()) as sweep:
        code = sweep.wait(SWEEP_TIMEOUT_S)
        assert code == 0, f"the sweep exited {code}:\n{sweep.log_tail()}"

    # MLflow, read with the user's credentials: four finished evaluations of four
    # trainings, trained on both nodes (a training run is named like its Ray trial).
    runs = child_runs(lab.mlflow.url, "tiny")
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    trainings = child_runs(lab.mlflow.url, "tiny", "training")
    assert len(trainings) == 4 and {run.info.status for run in trainings} == {"FINISHED"}
    nodes = {run.data.tags["trial_id"]: run.data.tags["ray_node_ip"] for run in trainings}
    assert set(nodes.values()) == {LoopbackCluster.HEAD_IP, LoopbackCluster.WORKER_IP}
    assert all(run.data.tags["device"].startswith("CPU") for run in [*runs, *trainings])

    # Table 1 went through the server to the artifact bucket.
    client = MlflowClient(tracking_uri=lab.mlflow.url)
    parent_id = runs[0].data.tags["mlflow.parentRunId"]
    assert client.get_run(parent_id).info.status == "FINISHED"
    table = client.download_artifacts(parent_id, "table1.csv", str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert sorted(row["variant"] for row in rows) == ["final", "plain"]
    assert any(key.endswith("table1.csv") for key in lab.s3.objects(ARTIFACT_BUCKET))

    # Every trial's checkpoints are in the object store; read the second node's back.
    stored = _checkpoints(lab, "both-nodes")
    assert sorted(stored) == sorted(nodes)
    sweep_config = load_sweep(TINY_SWEEP, overrides)
    storage = RayStorage.of(sweep_config.ray)
    filesystem = storage.filesystem()
    assert filesystem is not None
    remote = next(trial for trial, ip in nodes.items() if ip == LoopbackCluster.WORKER_IP)
    last = max(stored[remote])
    local = tmp_path / "read-back"
    local.mkdir()
    with filesystem.open_input_stream(f"{RAY_BUCKET}/{last}") as source:
        (local / "checkpoint.pt").write_bytes(source.read())
    variant = next(run.data.tags["variant"] for run in trainings
                   if run.data.tags["trial_id"] == remote)
    built = training_parts(sweep_config.resolve_variant(variant), (900, 100))
    iteration = load_checkpoint(local, model=built.model, optimizer=built.optimizer,
                                schedule=built.schedule)
    assert iteration == 2  # tiny.yaml's train.iterations: the trial's last checkpoint

    # The same command again: nothing reruns.
    ended = {run.info.run_id: run.info.end_time for run in runs}
    with SweepProcess([TINY_SWEEP, *overrides], cwd=tmp_path, log=tmp_path / "again.log",
                      env=lab.client_environ()) as again:
        code = again.wait(SWEEP_TIMEOUT_S)
        assert code == 0, f"the resumed sweep exited {code}:\n{again.log_tail()}"
    # Every training and evaluation is found in the lab's MLflow by its key.
    assert "plan: 0 trainings to run, 4 reused; 0 evaluations to run, 4 reused" in \
        again.log_tail(200_000)
    assert {run.info.run_id: run.info.end_time for run in child_runs(lab.mlflow.url, "tiny")} \
        == ended

    # The planted password and S3 secret are nowhere in what the sweep left behind.
    secrets = (PASSWORD.encode(), lab.s3.secret_key.encode())
    leaks = [f"{where}: {_line_with(body, secret)!r}"
             for where, body in _outputs(lab, tmp_path).items()
             for secret in secrets if secret in body]
    assert leaks == [], "\n".join(leaks)
    assert PASSWORD not in yaml.safe_dump(sweep_config.model_dump(mode="json"))


def _steps(uri: str, run_id: str) -> list[int]:
    return [m.step for m in MlflowClient(tracking_uri=uri).get_metric_history(run_id,
                                                                               "train_loss")]


def test_a_node_that_dies_mid_sweep_has_its_trials_retried_from_stored_checkpoints(
    lab: Lab, tmp_path: Path, as_user: None
) -> None:
    if not lab.cluster.worker_alive():
        lab.cluster.start_worker()
    tiny = yaml.safe_load(TINY_SWEEP.read_text())
    one_variant = write_sweep(tmp_path / "one.yaml",
                              {"variants": tiny["variants"][1:], "name": "tiny-kill"})
    overrides = ["cv.run_folds=[0,1]", "train.iterations=80", "train.checkpoint_every=10",
                 "failure.max_failures=2", *lab.overrides("node-dies")]

    def remote_past_checkpoint() -> bool:
        # Step 11 is logged only once the checkpoint of step 10 was stored.
        return any(run.data.tags.get("ray_node_ip") == LoopbackCluster.WORKER_IP
                   and max(_steps(lab.mlflow.url, run.info.run_id), default=0) >= 11
                   for run in child_runs(lab.mlflow.url, "tiny-kill", "training"))

    with SweepProcess([one_variant, *overrides], cwd=tmp_path, log=tmp_path / "sweep.log",
                      env=lab.client_environ()) as sweep:
        wait_until(remote_past_checkpoint, timeout=SWEEP_TIMEOUT_S, interval=0.2,
                   what="a trial on the second node stored a checkpoint", process=sweep)
        killed = {run.info.run_id for run in child_runs(lab.mlflow.url, "tiny-kill", "training")
                  if run.data.tags.get("ray_node_ip") == LoopbackCluster.WORKER_IP}
        lab.cluster.kill_worker()
        code = sweep.wait(SWEEP_TIMEOUT_S)
        assert code == 0, f"the sweep exited {code} after the node died:\n{sweep.log_tail()}"

    assert {run.info.status for run in child_runs(lab.mlflow.url, "tiny-kill")} == {"FINISHED"}
    runs = {run.info.run_id: run
            for run in child_runs(lab.mlflow.url, "tiny-kill", "training")}
    assert len(runs) == 2 and {run.info.status for run in runs.values()} == {"FINISHED"}
    assert killed and killed <= set(runs)
    for run_id in killed:
        # Finished on the head, into the same run, resumed from a stored checkpoint.
        assert runs[run_id].data.tags["ray_node_ip"] == LoopbackCluster.HEAD_IP
        steps = _steps(lab.mlflow.url, run_id)
        assert set(steps) == set(range(1, 81))
        repeated = sorted({step for step in steps if steps.count(step) > 1})
        assert all(step > 10 for step in repeated), f"restarted from scratch: {repeated}"
    parent_id = next(iter(runs.values())).data.tags["mlflow.parentRunId"]
    client = MlflowClient(tracking_uri=lab.mlflow.url)
    assert client.get_run(parent_id).info.status == "FINISHED"  # the table is complete
    table = client.download_artifacts(parent_id, "table1.csv", str(tmp_path))
    (row,) = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert row["variant"] == "final"

"""The ``platform`` package is the project package AND the standard module (issue 3).

Proved in the driver (this pytest process, started as ``python -m pytest``), in a fresh
interpreter from the repository root, through the console-script launcher from another
folder, and inside Ray workers on a local Ray and on the second node of a cluster.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

import platform
from platform._stdlib import load_stdlib_platform, stdlib_fingerprint
from platform.tune.env import REPO_ROOT, ray_process_env, worker_runtime_env

STANDARD = load_stdlib_platform()
CALLS = [
    "system", "machine", "node", "release", "version", "processor", "python_version",
    "python_version_tuple", "python_implementation", "python_compiler", "python_build",
    "platform", "architecture", "libc_ver", "mac_ver", "win32_ver", "java_ver",
    "freedesktop_os_release",
]


def _expected_fingerprint() -> dict:
    fingerprint = stdlib_fingerprint()
    fingerprint["uname"] = tuple(STANDARD.uname())
    return fingerprint


def test_driver_imports_the_project_package():
    assert hasattr(platform, "__path__")
    assert Path(platform.__path__[0]).resolve() == REPO_ROOT / "platform"


@pytest.mark.parametrize("name", CALLS)
def test_every_common_call_matches_the_standard_module(name):
    ours = getattr(platform, name)
    try:
        expected = getattr(STANDARD, name)()
    except OSError as err:  # freedesktop_os_release on systems without os-release
        with pytest.raises(type(err)):
            ours()
        return
    assert ours() == expected


def test_uname_pickles_across_modules():
    value = platform.uname()
    restored = pickle.loads(pickle.dumps(value))
    assert restored == value
    assert type(value).__module__ == "platform"


def test_libraries_that_call_platform_work():
    import uuid

    import numpy as np
    import torch

    assert uuid.uuid4().version == 4
    assert np.show_runtime is not None
    assert torch.tensor([1.0]).sum().item() == 1.0


def test_fresh_interpreter_from_repo_root_gets_the_package():
    code = (
        "import json, platform, uuid; uuid.uuid4();"
        "print(json.dumps([hasattr(platform, '__path__'), platform.system(), platform.machine()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [True, STANDARD.system(), STANDARD.machine()]


def test_launcher_reaches_the_package_from_another_folder(tmp_path):
    # What the `stroke-sweep` console script does, run from a folder outside the repository.
    code = (
        "import platform as std, sys; assert not hasattr(std, '__path__');"
        f"sys.path.append({str(REPO_ROOT)!r});"  # like an installed project: after the stdlib
        "import stroke_cli; stroke_cli.import_project_platform();"
        "import platform, platform.tune.env, json;"
        "print(json.dumps([hasattr(platform, '__path__'), platform.python_version()]))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [True, STANDARD.python_version()]


def test_console_script_runs_from_another_folder(tmp_path):
    script = Path(sys.executable).with_name("stroke-sweep")
    if not script.exists():
        pytest.skip("project not installed with pip install -e . (make install does it)")
    out = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "sweep" in out.stdout.lower()


def test_ray_worker_on_local_ray_finds_the_package(ray_local):
    import ray

    remote = ray.remote(num_cpus=0.1)(stdlib_fingerprint)
    assert ray.get(remote.remote(), timeout=120) == _expected_fingerprint()


@pytest.mark.cluster
def test_ray_worker_on_second_node_finds_the_package(ray_two_nodes):
    # A separate driver process: this session may already hold a local Ray.
    code = f"""
import json, ray
from platform._stdlib import stdlib_fingerprint
from platform.tune.env import worker_runtime_env
ray.init(address={ray_two_nodes!r}, _node_ip_address="127.0.0.2",
         runtime_env=worker_runtime_env(), log_to_driver=False)
deadline = __import__("time").monotonic() + 60
while len([n for n in ray.nodes() if n["Alive"]]) < 2:
    assert __import__("time").monotonic() < deadline, "worker node never joined"
    __import__("time").sleep(0.5)
f = ray.remote(num_cpus=1, resources={{"worker_node": 0.01}})(stdlib_fingerprint)
ip = ray.remote(num_cpus=1, resources={{"worker_node": 0.01}})(
    lambda: ray.util.get_node_ip_address())
print(json.dumps([ray.get(f.remote(), timeout=120), ray.get(ip.remote(), timeout=120)]))
ray.shutdown()
"""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=ray_process_env(),
        capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    fingerprint, node_ip = json.loads(out.stdout.strip().splitlines()[-1])
    expected = json.loads(json.dumps(_expected_fingerprint()))
    assert fingerprint == expected
    assert node_ip == "127.0.0.3"
    assert time.monotonic() - started < 240


def test_worker_runtime_env_puts_repo_first():
    env = worker_runtime_env()["env_vars"]
    assert env["PYTHONPATH"].split(":")[0] == str(REPO_ROOT)
    assert env["RAY_AUTH_MODE"]

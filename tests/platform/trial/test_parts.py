"""Tests of platform/trial/parts.py's GPU placement: the trial trains on the GPU Ray assigned.

Every other function of parts.py is proved setting by setting in ../test_knob_reach.py.
Here a real local Ray with one (declared) GPU hands two trials half of it each; on a
machine without CUDA the trial refuses to fall back to the CPU silently.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from platform.config.request import SweepContext
from platform.trial.parts import assigned_gpu_index, trial_device
from platform.tune.env import REPO_ROOT, ray_process_env

CONTEXT = dict(cohort="c", cache_root="/c", folds=(), run_folds=(0,), cv_seed=0,
               tracking_uri="sqlite:///x.db", experiment="e", sweep_id="s", cpus_per_trial=1.0,
               data_fingerprint="d")


@pytest.mark.parametrize(("assigned", "visible", "index"), [
    ([0], "0", 0),            # Ray narrowed CUDA_VISIBLE_DEVICES to the trial's GPU
    ([3], "3", 0),
    (["1", "2"], "1,2", 0),   # two GPUs: the first is the trial's device
    ([2], "0,1,2,3", 2),      # RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: all visible
    ([2], None, 2),
])
def test_the_assigned_gpu_is_found_among_the_visible_ones(assigned, visible, index) -> None:
    assert assigned_gpu_index(assigned, visible) == index


def test_a_gpu_hidden_from_the_process_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="leave CUDA_VISIBLE_DEVICES to Ray"):
        assigned_gpu_index([1], "0")


def test_no_gpu_assigned_trains_on_the_cpu() -> None:
    context = SweepContext(gpus_per_trial=0.0, **CONTEXT)
    assert trial_device(context, []) == torch.device("cpu")
    assert trial_device(context) == torch.device("cpu")  # outside Ray: the setting decides


_FRACTIONS = """
import json, os, ray
from platform.trial.parts import trial_device
from platform.config.request import SweepContext
from platform.tune.env import worker_runtime_env
ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False,
         object_store_memory=80 * 1024**2, _node_ip_address="127.0.0.2",
         runtime_env=worker_runtime_env(), log_to_driver=False)
context = json.loads(os.environ["CONTEXT"])

@ray.remote(num_cpus=1, num_gpus=0.5)
def half_gpu_trial():
    import time
    ids = [str(i) for i in ray.get_gpu_ids()]
    try:
        device = str(trial_device(SweepContext(**context), ray.get_gpu_ids()))
    except RuntimeError as err:
        device = f"refused: {err}"
    time.sleep(1.0)  # both run at once: one GPU, two halves
    return ids, os.environ.get("CUDA_VISIBLE_DEVICES"), device

print(json.dumps(ray.get([half_gpu_trial.remote() for _ in range(2)], timeout=120)))
ray.shutdown()
"""


def test_two_trials_share_one_gpu_and_train_on_the_one_ray_assigned() -> None:
    env = {**ray_process_env(), "CONTEXT": json.dumps({**CONTEXT, "gpus_per_trial": 0.5})}
    done = subprocess.run([sys.executable, "-c", _FRACTIONS], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(ids, visible) for ids, visible, _ in results] == [(["0"], "0")] * 2
    for _, _, device in results:
        if torch.cuda.is_available():
            assert device == "cuda:0"
        else:  # a CPU build of torch on a "GPU" node: say so, never train on the CPU quietly
            assert device.startswith("refused: Ray assigned GPU [0] to this trial, but torch")
            assert "install torch's CUDA build on every GPU node" in device

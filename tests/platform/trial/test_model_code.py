"""platform.trial.model_code: the entry file MLflow stores with each trial model and runs on load.

It runs in someone else's process (``mlflow.pyfunc.load_model``), where the standard
library's ``platform`` module is usually imported already and the project sits after
the standard library on ``sys.path``, as ``pip install`` puts it. Here it runs so, in a
fresh interpreter outside the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from platform.trial.portable_model import MODEL_CODE
from platform.tune.env import REPO_ROOT

_RUN_AS_MLFLOW_DOES = """
import json, platform, runpy, sys
assert not hasattr(platform, "__path__")  # the standard module, as in MLflow's process
sys.path.append(sys.argv[1])  # the project after the standard library, as site-packages is
runpy.run_path(sys.argv[2])
import mlflow.models.model as stored
model = stored.__mlflow_model__
from platform.inference.segment import segment_volume
from platform.trial.parts import network
print(json.dumps({"class": type(model).__module__ + "." + type(model).__qualname__,
                  "wired": [model.build_network is network, model.segment is segment_volume],
                  "platform": list(sys.modules["platform"].__path__),
                  "system": sys.modules["platform"].system()}))
"""


def test_the_entry_file_hands_mlflow_the_trials_model_where_platform_is_the_stdlib(
        tmp_path: Path) -> None:
    assert MODEL_CODE.name == "model_code.py" and MODEL_CODE.parent.name == "trial"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run([sys.executable, "-c", _RUN_AS_MLFLOW_DOES, str(REPO_ROOT),
                           str(MODEL_CODE)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["class"] == "platform.trial.portable_model.LesionSegmentationModel"
    assert loaded["wired"] == [True, True]
    assert loaded["platform"] == [str(REPO_ROOT / "platform")]
    assert loaded["system"] == "Linux"

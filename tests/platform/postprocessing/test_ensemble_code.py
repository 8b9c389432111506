"""platform.postprocessing.ensemble_code: the entry file MLflow stores with each fold-ensemble
model and runs on load.

It runs in someone else's process (``mlflow.pyfunc.load_model``), where the standard
library's ``platform`` module is usually imported already and the project sits after the
standard library on ``sys.path``. Here it runs so, in a fresh interpreter outside the
repository. (Loading a logged ensemble and predicting with it:
``test_ensemble_model.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from platform.postprocessing.ensemble_model import ENSEMBLE_CODE
from platform.tune.env import REPO_ROOT

_RUN_AS_MLFLOW_DOES = """
import json, platform, runpy, sys
assert not hasattr(platform, "__path__")  # the standard module, as in MLflow's process
sys.path.append(sys.argv[1])  # the project after the standard library, as site-packages is
runpy.run_path(sys.argv[2])
import mlflow.models.model as stored
model = stored.__mlflow_model__
from platform.inference.segment import segment_volume
from platform.postprocessing.ensemble import EnsembleNetwork
print(json.dumps({"class": type(model).__module__ + "." + type(model).__qualname__,
                  "wired": [model.combine is EnsembleNetwork, model.segment is segment_volume],
                  "loaded": model.network is not None,
                  "platform": list(sys.modules["platform"].__path__)}))
"""


def test_the_entry_file_hands_mlflow_the_ensemble_model_where_platform_is_the_stdlib(
        tmp_path: Path) -> None:
    assert ENSEMBLE_CODE.name == "ensemble_code.py" and ENSEMBLE_CODE.exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run([sys.executable, "-c", _RUN_AS_MLFLOW_DOES, str(REPO_ROOT),
                           str(ENSEMBLE_CODE)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["class"] == "platform.postprocessing.ensemble_model.FoldEnsembleModel"
    assert loaded["wired"] == [True, True]
    assert loaded["loaded"] is False  # its members load in load_context, not before
    assert loaded["platform"] == [str(REPO_ROOT / "platform")]

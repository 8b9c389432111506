"""Issue 23: the public Python API (:mod:`stroke_api`) imports from any folder and in a
notebook-like process where Python's standard ``platform`` module is already imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import stroke_api
from tests.platform.trial.test_portable_model import install_like_pip

_USE = """import json, platform, site, sys
assert not hasattr(platform, "__path__")  # the standard module, as in a notebook
site.addsitedir(sys.argv[1])
import stroke_api
from platform.interchange import main  # any project module, after the import
summary = stroke_api.read_summary
print(json.dumps({"api": stroke_api.__file__, "platform": list(sys.modules["platform"].__path__),
                  "system": platform.system(), "same": platform.system() == "Linux",
                  "summary": summary.__module__, "main": main.__module__}))
"""


def test_public_names_resolve_to_their_modules() -> None:
    for name, module in stroke_api.API.items():
        assert getattr(stroke_api, name).__module__ == module, name
    assert set(stroke_api.API) == set(stroke_api.__all__) - {"API"}


def test_the_api_imports_outside_the_repository_after_the_standard_platform(tmp_path) -> None:
    site_dir = install_like_pip(tmp_path / "site-packages")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", _USE, str(site_dir)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["api"]).is_relative_to(site_dir)
    assert seen["platform"] == [str(site_dir / "platform")] and seen["same"]
    assert seen["summary"] == "platform.evaluation.nnunet"
    assert seen["main"] == "platform.interchange"

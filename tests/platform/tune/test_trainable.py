"""platform.tune.trainable: the Ray Tune entry validates its request first, then hands a grid
trial or a search sample to the trial stage, on the device Ray gave it.

Ray's session (the trial's folder and id, the GPUs it was given) is replaced by stand-ins,
and so are the trial stage's two entries: what is tested is what the trainable does with
them. A real Ray Tune run of it is the sweep end to end (``sweep/test_run.py``).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pydantic import ValidationError

import platform.tune.trainable as trainable_module
from platform.config import load_sweep
from platform.config.request import REQUEST_KEY, SAMPLE_KEY, FoldKeys, SweepContext, TrialRequest
from platform.sweep.expand import expand
from platform.tune.trainable import RayReporter, trainable

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"
CONTEXT = SweepContext(
    cohort="/c", cache_root="/cache", folds=(FoldKeys(index=0, train=("b",), test=("a",)),
                                             FoldKeys(index=1, train=("a",), test=("b",))),
    run_folds=(0, 1), cv_seed=0, tracking_uri="sqlite:////m.db", experiment="tiny",
    sweep_id="s", cpus_per_trial=1.0, gpus_per_trial=0.0, data_fingerprint="d")


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, Any]]:
    """What the trainable hands on, in order, with Ray's session replaced."""
    calls: list[tuple[str, Any]] = []
    session = SimpleNamespace(get_trial_dir=lambda: str(tmp_path / "trial"),
                              get_trial_id=lambda: "search-7")
    monkeypatch.setattr(trainable_module, "tune", SimpleNamespace(get_context=lambda: session))
    monkeypatch.setattr(trainable_module, "ray", SimpleNamespace(get_gpu_ids=lambda: []))
    monkeypatch.setattr(trainable_module, "configure_threads",
                        lambda config, context: calls.append(("threads", config)))
    monkeypatch.setattr(trainable_module, "run_trial",
                        lambda request, reporter, **kw: calls.append(("trial", (request,
                                                                                reporter, kw))))
    monkeypatch.setattr(trainable_module, "run_search_sample",
                        lambda request, **kw: calls.append(("sample", (request, kw))))
    return calls


def _request(**extra: object) -> TrialRequest:
    return TrialRequest(spec=expand(load_sweep(TINY))[1], context=CONTEXT, **extra)


def test_a_grid_trial_trains_in_its_trial_folder_on_the_device_ray_gave(
        handed: list, tmp_path: Path) -> None:
    request = _request()
    trainable({REQUEST_KEY: request.to_ray()})
    ((kind, (given, reporter, options)),) = handed
    assert kind == "trial" and given == request and isinstance(reporter, RayReporter)
    assert options == {"work_dir": tmp_path / "trial" / "work", "device": torch.device("cpu")}


def test_a_search_sample_runs_with_its_sample_applied_and_its_threads_set(
        handed: list) -> None:
    base = _request(search_metric="val_dice")
    trainable({REQUEST_KEY: base.to_ray(), SAMPLE_KEY: {"optimizer.lr": 3.0e-4}})
    (threads, (kind, (given, options))) = handed
    assert threads == ("threads", given.spec.config)
    assert kind == "sample" and given.sample == {"optimizer.lr": 3.0e-4}
    assert given.spec.config.optimizer.params.lr == 3.0e-4
    assert options["search_trial_id"] == "search-7"
    assert options["device"] == torch.device("cpu")
    assert isinstance(options["reporter"], RayReporter)


def test_a_config_that_is_not_a_request_is_refused_before_anything_runs(
        handed: list) -> None:
    with pytest.raises(ValidationError, match="spec"):
        trainable({REQUEST_KEY: {"context": CONTEXT.model_dump(mode="json")}})
    assert handed == []

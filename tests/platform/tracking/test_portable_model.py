"""platform.tracking.portable_model: the trial's network as an MLflow pyfunc, built from a
state dict and the resolved config (nothing pickled), with no knowledge of the trial
layer: the network builder and the segmentation are handed in (the trial stage wires
its own in :mod:`platform.trial.portable_model`). A full round trip through a store is in
``test_runs.py``, loading by reference in ``test_results.py``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from packaging.specifiers import SpecifierSet

from platform.config.trial import TrialConfig
from platform.tracking.portable_model import (
    DISTRIBUTION,
    TORCH_REQUIREMENT,
    PortableSegmentationModel,
    load_network,
    model_signature,
    pip_requirements,
)
from platform.trial.parts import network
from platform.trial.portable_model import MODEL_CODE
from tests.platform.tracking.test_runs import TRIAL_CONFIG, _parent, _tiny_model, _trial

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _saved(folder: Path, module: torch.nn.Module, config: TrialConfig) -> tuple[Path, Path]:
    """``weights.pt`` and ``config.json``, as :func:`log_segmentation_model` stores them."""
    weights, config_file = folder / "weights.pt", folder / "config.json"
    torch.save(module.state_dict(), weights)
    config_file.write_text(json.dumps(config.model_dump(mode="json")))
    return weights, config_file


def test_log_model_refuses_a_config_it_could_not_rebuild(mlflow_sqlite_uri: str) -> None:
    with _trial(mlflow_sqlite_uri, _parent(mlflow_sqlite_uri)) as run, pytest.raises(
            ValueError, match="model"):
        run.log_model(_tiny_model(), {"model": {"name": "no_such_network"}}, code=MODEL_CODE)


def test_the_network_is_rebuilt_from_the_config_with_the_saved_weights(tmp_path: Path) -> None:
    model = _tiny_model()
    weights, config_file = _saved(tmp_path, model, TRIAL_CONFIG)
    rebuilt, config = load_network(weights, config_file, build_network=network,
                                   device=torch.device("cpu"))
    assert config == TRIAL_CONFIG and not rebuilt.training
    x = torch.rand(1, 1, 8, 8, 8)
    torch.testing.assert_close(rebuilt(x), model(x))


def test_weights_of_another_network_are_refused_naming_both_files(tmp_path: Path) -> None:
    weights, config_file = _saved(tmp_path, torch.nn.Conv3d(1, 1, 1), TRIAL_CONFIG)
    with pytest.raises(ValueError, match="weights.pt does not fit the network of .*config.json"):
        load_network(weights, config_file, build_network=network, device=torch.device("cpu"))


def test_predict_hands_the_loaded_network_and_config_to_the_segmentation(
        tmp_path: Path) -> None:
    weights, config_file = _saved(tmp_path, _tiny_model(), TRIAL_CONFIG)
    calls = []

    def segment(net: torch.nn.Module, config: TrialConfig, hu: np.ndarray, *,
                device: torch.device) -> np.ndarray:
        calls.append((net, config, hu, device))
        return (hu > 0).astype(np.uint8)

    model = PortableSegmentationModel(build_network=network, segment=segment)
    with pytest.raises(RuntimeError, match="not loaded"):
        model.predict(None, np.zeros((4, 4, 4), np.float32))
    model.load_context(SimpleNamespace(artifacts={"weights": str(weights),
                                                  "config": str(config_file)}))
    volume = np.arange(-4.0, 4.0, dtype=np.float32).reshape(2, 2, 2)
    mask = model.predict(None, volume)
    np.testing.assert_array_equal(mask, (volume > 0).astype(np.uint8))
    ((net, config, hu, device),) = calls
    assert net is model.network and config == TRIAL_CONFIG and device == model.device
    np.testing.assert_array_equal(hu, volume)


def test_the_signature_and_requirements_say_what_a_server_needs() -> None:
    signature = model_signature().to_dict()
    (given,) = json.loads(signature["inputs"])
    (returned,) = json.loads(signature["outputs"])
    assert given["tensor-spec"] == {"dtype": "float32", "shape": [-1, -1, -1]}
    assert returned["tensor-spec"] == {"dtype": "uint8", "shape": [-1, -1, -1]}
    package, torch_requirement = pip_requirements()
    assert package == DISTRIBUTION or package.startswith(f"{DISTRIBUTION}>=")
    # Issue 23: a range (pyproject's), not the training machine's torch: a GPU machine's
    # CUDA build must satisfy it, and so must the torch that trained the model.
    assert torch_requirement == TORCH_REQUIREMENT
    assert TORCH_REQUIREMENT in (REPO / "pyproject.toml").read_text()
    assert SpecifierSet(TORCH_REQUIREMENT.removeprefix("torch")).contains(
        torch.__version__.split("+")[0])

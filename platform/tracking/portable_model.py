"""The portable trial model: an MLflow pyfunc built from a state_dict and the resolved config.

Why not ``mlflow.pytorch`` (what trials logged before): its pickled module loads only
where this repository's classes sit at the same import paths, MLflow 3 refuses to
unpickle it by default, and it had no signature and listed only torch. Here a trial's
model is logged through MLflow's *models from code*
(https://mlflow.org/docs/latest/ml/model/models-from-code/): the model directory holds

- ``weights.pt``: the network's ``state_dict`` (plain tensors, read back with
  ``torch.load(..., weights_only=True)``);
- ``config.json``: the trial's resolved :class:`~platform.config.trial.TrialConfig`;
- ``model_code.py`` (:mod:`platform.trial.model_code`): a few lines that MLflow runs on
  load; they wire the network builder and the segmentation of the trial stage into
  :class:`PortableSegmentationModel` (:class:`platform.trial.portable_model.
  LesionSegmentationModel`), so this tracking module never imports the trial layer;
- a signature (input: one CT volume ``(Z, Y, X)`` float32 in HU; output: the lesion
  mask ``(Z, Y, X)`` uint8 on the same grid) and pip requirements naming this package
  and torch.

Nothing is unpickled: the network is rebuilt from the config through the model registry
and its weights loaded into it. So ``mlflow.pyfunc.load_model(uri)`` works in any
process that has the package installed (``pip install`` of this project), from any
folder, and ``mlflow models serve -m URI --env-manager local`` serves it. ``predict``
runs the trial's preprocessing, tiled inference and threshold (the ``segment`` callable
the entry file wires: :func:`platform.inference.segment.segment_volume`), so it returns
the mask the trial's evaluation scored.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import torch
from mlflow.models import Model, ModelSignature, set_model
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import Schema, TensorSpec

from platform.config.trial import TrialConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["CONFIG_ARTIFACT", "DISTRIBUTION", "REFERENCE_CODE", "TORCH_REQUIREMENT",
           "WEIGHTS_ARTIFACT", "BuildNetwork", "PortableSegmentationModel", "Segment",
           "load_network", "log_model_reference", "log_segmentation_model", "model_signature",
           "pip_requirements", "set_model"]

DISTRIBUTION = "stroke-ablation-platform"
"""This project's name on pip (``[project] name`` in ``pyproject.toml``)."""
TORCH_REQUIREMENT = "torch>=2.3,<3"
"""The models' torch requirement: a range (``pyproject.toml``'s), not the training machine's
version, so a GPU machine's CUDA build (or a CPU build) satisfies it."""
REFERENCE_CODE = Path(__file__).with_name("model_reference.py")
"""The models-from-code file of a run's ``model/`` reference (:mod:`.model_reference`)."""
WEIGHTS_ARTIFACT = "weights"
CONFIG_ARTIFACT = "config"

BuildNetwork = Callable[[TrialConfig], torch.nn.Module]
"""The network a trial config describes (the trial stage's builder)."""
Segment = Callable[..., np.ndarray]
"""``segment(network, config, hu, *, device) -> mask``, as the trial's evaluation does it."""


class PortableSegmentationModel(PythonModel):
    """A trial's network with its preprocessing and tiled inference, as an MLflow pyfunc.

    ``predict`` takes one CT volume ``(Z, Y, X)`` in Hounsfield units (float32) and
    returns the binary lesion mask ``(Z, Y, X)`` uint8 on the same grid. After loading,
    :attr:`network` and :attr:`config` are the rebuilt network (eval mode) and the
    trial's resolved config (``mlflow.pyfunc.load_model(uri).unwrap_python_model()``).
    """

    # The signature (model_signature) says what predict takes, not predict's type hints
    # (which MLflow would otherwise use to wrap predict and convert its input). The
    # context's class is imported at run time so that MLflow can resolve the hints.
    _skip_type_hint_validation = True

    def __init__(self, build_network: BuildNetwork, segment: Segment) -> None:
        self.build_network, self.segment = build_network, segment
        self.network: torch.nn.Module | None = None
        self.config: TrialConfig | None = None
        self.device = torch.device("cpu")

    def load_context(self, context: PythonModelContext) -> None:
        """Rebuild the network from ``config.json`` and load ``weights.pt`` into it."""
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.network, self.config = load_network(
            Path(context.artifacts[WEIGHTS_ARTIFACT]), Path(context.artifacts[CONFIG_ARTIFACT]),
            build_network=self.build_network, device=self.device)

    def predict(self, context: PythonModelContext, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> np.ndarray:
        """The lesion mask of one CT volume (see the class docstring)."""
        if self.network is None or self.config is None:
            raise RuntimeError("the model is not loaded: use mlflow.pyfunc.load_model(uri)")
        mask: np.ndarray = self.segment(self.network, self.config, np.asarray(model_input),
                                        device=self.device)
        return mask


def load_network(weights: Path, config: Path, *, build_network: BuildNetwork,
                 device: torch.device) -> tuple[torch.nn.Module, TrialConfig]:
    """The network of ``config.json`` with the ``state_dict`` of ``weights.pt`` (eval mode).

    Raises:
        ValueError: the config is not a valid trial config, or the weights do not fit
            the network it describes.
    """
    resolved = TrialConfig.model_validate(json.loads(config.read_text()))
    module = build_network(resolved)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{weights} does not fit the network of {config}: {err}") from err
    return module.to(device).eval(), resolved


def model_signature() -> ModelSignature:
    """Input: one CT volume ``(Z, Y, X)`` float32 in HU; output: the mask, uint8."""
    volume = (-1, -1, -1)  # unnamed tensors: pyfunc hands ``predict`` the array itself
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), volume)]),
                          outputs=Schema([TensorSpec(np.dtype(np.uint8), volume)]))


def pip_requirements() -> list[str]:
    """This package (at least the installed version, if installed) and torch (a range).

    Ranges, not pins: ``mlflow models serve`` / ``build-docker`` build an environment
    from them, and a pin such as ``torch==2.13.0`` (the CPU wheel that trained it) would
    refuse the CUDA build a GPU machine has.
    """
    try:
        package = f"{DISTRIBUTION}>={metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:  # a checkout that was never pip-installed
        package = DISTRIBUTION
    return [package, TORCH_REQUIREMENT]


def log_model_reference(client: MlflowClient, run_id: str, model_uri: str,
                        artifact_path: str = "model",
                        signature: ModelSignature | None = None) -> None:
    """Store a small pyfunc under run ``run_id``'s ``artifact_path`` that loads ``model_uri``.

    So ``runs:/<run id>/model`` loads a model that lives elsewhere (the training's
    ``models:/<model id>``) without copying its weights (:mod:`.model_reference`). Plain
    run artifacts: no second ``LoggedModel`` appears in the Models tab. ``signature``:
    the referenced model's (default: a trial model's, :func:`model_signature`).
    """
    if not model_uri.startswith("models:/"):
        raise ValueError(f"a model reference names a 'models:/...' URI, got {model_uri!r}")
    with tempfile.TemporaryDirectory(prefix="model-reference-") as tmp:
        reference = Path(tmp) / "reference.json"
        reference.write_text(json.dumps({"model_uri": model_uri}))
        folder = Path(tmp) / "model"
        mlflow.pyfunc.save_model(
            str(folder), python_model=str(REFERENCE_CODE),
            artifacts={"reference": str(reference)},
            signature=signature or model_signature(), pip_requirements=pip_requirements())
        client.log_artifacts(run_id, str(folder), artifact_path)


def log_segmentation_model(client: MlflowClient, run_id: str, network: torch.nn.Module,
                           config: Mapping[str, Any], *, name: str, code: Path) -> str:
    """Log ``network`` with its resolved ``config`` as run ``run_id``'s pyfunc model.

    The caller points MLflow's global tracking URI at the run's store (``Model.log``
    resolves the store from it). The ``LoggedModel`` is created in the run's experiment
    and linked to the run. ``code`` is the models-from-code file MLflow stores and runs
    on load (:data:`platform.trial.portable_model.MODEL_CODE`). Returns the model's
    ``models:/<model id>`` URI.

    Raises:
        pydantic.ValidationError: ``config`` is not a valid trial config.
    """
    TrialConfig.model_validate(dict(config))  # refuse what load_context could not rebuild
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name=name, source_run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="trial-model-") as tmp:
        weights, config_file = Path(tmp) / "weights.pt", Path(tmp) / "config.json"
        state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
        torch.save(state, weights)
        config_file.write_text(json.dumps(dict(config), indent=2, sort_keys=True))
        with warnings.catch_warnings():
            # MLflow asks for an input example (ours would be a whole CT volume in JSON);
            # the signature says what the model takes.
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info = Model.log(
                artifact_path=None, name=name, flavor=mlflow.pyfunc, run_id=run_id,
                model_id=logged.model_id, python_model=str(code),
                artifacts={WEIGHTS_ARTIFACT: str(weights), CONFIG_ARTIFACT: str(config_file)},
                signature=model_signature(), pip_requirements=pip_requirements())
    return str(info.model_uri)

"""Every setting reaches its consumer: a table, field by field, for the whole sweep schema.

Why: a knob that is validated, logged and hashed but never applied is the worst bug this
platform can have (issue 17: ``cv.stratify_by_lesion_volume`` never reached the folds,
augmentation parameters never reached TorchIO). Each row changes one setting and checks
that what its consumer receives changes: the built module, loss, optimizer, schedule,
sampler and queue, transform, preprocessed volume, fold list, inference call, Ray Tune
and ``ray.init`` arguments. A schema field or a registered part's parameter without a row
fails :func:`test_every_schema_field_has_a_row` / the parametrized part test, so a new
setting cannot be added without proving it is wired.

Cross-cutting: it reads every stage (config, sweep, tune, trial, inference,
postprocessing, tracking), so it mirrors no single module and sits at the top of
``tests/platform/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchio as tio
import yaml
from pydantic import BaseModel

import data_pipeline.samplers as samplers
import platform.inference.sliding_window as inference_module
from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.parts.registry import PartSpec, registry
from data_pipeline.preprocess import NO_PREPROCESSING_STEPS, PAPER_STEPS, preprocess
from data_pipeline.synthetic.phantom import make_head_phantom
from data_pipeline.synthetic.phantom_skull import Anatomy
from platform.config import SweepConfig, load_sweep
from platform.config.designs import AblationConfig, ComponentConfig
from platform.config.evidence import EvidenceConfig
from platform.config.reference import KINDS
from platform.config.request import TrialRequest
from platform.config.runtime import (
    FailureConfig,
    RayConfig,
    ResourcesConfig,
    ReuseConfig,
    TrackingConfig,
)
from platform.config.search import Distribution, SearchConfig
from platform.config.sweep import CVConfig, DataConfig, SyntheticCohortConfig, VariantConfig
from platform.config.trial import EvalConfig, PreprocessingConfig, TrainConfig, TrialConfig
from platform.inference import from_config
from platform.postprocessing.choice import case_scores
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand, format_trials
from platform.trial import parts
from platform.tune.storage import RayStorage

# ---- parts: every parameter of every registered part ------------------------------------

BASELINE: dict[tuple[str, str], dict[str, Any]] = {
    ("sampler", "uniform"): {"patch_size": [16, 16, 16], "patches_per_patient": 2,
                             "queue_length": 4},
    ("sampler", "label"): {"patch_size": [16, 16, 16], "patches_per_patient": 2,
                           "queue_length": 4},
    ("model", "unet3d"): {"base_width": 4, "depth": 2},
    ("model", "unet3d_residual"): {"base_width": 4, "depth": 2},
    ("model", "unet3d_residual_se"): {"base_width": 4, "depth": 2},
    ("block", "conv_block"): {"se": True, "residual": True},
    ("model", "monai_basicunet"): {"features": [2, 2, 4, 4, 8, 2]},
    ("model", "monai_segresnet"): {"init_filters": 4, "norm": ["group", {"num_groups": 2}]},
    ("model", "monai_dynunet"): {"filters": [2, 4, 4, 4, 4]},
    ("model", "monai_unetr"): {"feature_size": 2, "hidden_size": 8, "mlp_dim": 8,
                               "num_heads": 2},
    ("model", "monai_swinunetr"): {"feature_size": 12, "depths": [1, 1, 1, 1],
                                   "window_size": 2},
}
"""Small settings the probes start from (a 128^3 sampler would only cost time)."""

CONTEXT: dict[tuple[str, str, str], dict[str, Any]] = {
    ("preprocessing step", "remove_skull", "tissue_hu"): {"method": "paper"},
    **{("model", name, "se_ratio"): {"se": True, "base_width": 32, "depth": 1}
       for name in ("unet3d", "unet3d_residual", "unet3d_residual_se")},
    ("block", "conv_block", "se_ratio"): {"se": True},
}
"""Parameters that act only together with another setting (documented so)."""

ALTERNATIVES: dict[tuple[str, str], Any] = {
    ("hu_window", "low"): -20.0, ("hu_window", "high"): 60.0, ("remove_skull", "bone_hu"): 45.0,
    ("remove_skull", "air_hu"): 45.0, ("remove_skull", "tissue_hu"): 30.0,
    ("crop_to_brain", "margin"): 3,
    ("sampler", "label_probabilities"): {0: 0.0, 1: 0.2, 2: 0.8},
    ("sampler", "augmentations"): ["flip"], ("sampler", "patch_size"): [8, 16, 16],
    ("sampler", "num_workers"): 1, ("focal", "alpha"): None, ("group", "num_groups"): 4,
    ("sliding_window", "mirror_axes"): [0, 2], ("postprocessing", "connectivity"): 6,
    ("monai_basicunet", "features"): [2, 2, 4, 4, 8, 4], ("monai_basicunet", "act"): "relu",
    ("monai_basicunet", "norm"): "batch", ("monai_segresnet", "init_filters"): 6,
    ("monai_segresnet", "act"): "elu", ("monai_segresnet", "norm"): "instance",
    ("monai_segresnet", "blocks_down"): [1, 1, 2, 4], ("monai_segresnet", "blocks_up"): [1, 2, 1],
    ("monai_segresnet", "dropout_prob"): 0.1, ("monai_dynunet", "dropout"): 0.1,
    ("monai_dynunet", "kernel_size"): [[3, 3, 3]] * 4 + [[1, 1, 1]],
    ("monai_dynunet", "strides"): [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 1]],
    ("monai_dynunet", "filters"): [2, 4, 4, 4, 8], ("monai_dynunet", "norm_name"): "batch",
    ("monai_dynunet", "act_name"): "relu", ("monai_unetr", "hidden_size"): 12,
    ("monai_unetr", "norm_name"): "batch", ("monai_swinunetr", "depths"): [1, 1, 2, 1],
    ("monai_swinunetr", "num_heads"): [3, 6, 6, 24], ("monai_swinunetr", "feature_size"): 24,
    ("monai_swinunetr", "norm_name"): "batch",
    ("nnunet", "trainer"): "nnUNetTrainer_5epochs", ("nnunet", "epochs"): 2,
    ("nnunet", "iterations_per_epoch"): 2, ("nnunet", "val_iterations_per_epoch"): 2,
    ("nnunet", "workers"): 0, ("nnunet", "device"): "cpu",
}
"""Changed values where a generic change would be refused or would not show."""


def _candidates(kind: str, name: str, param: str, value: Any) -> list[Any]:
    for key in ((name, param), (kind, param)):
        if key in ALTERNATIVES:
            return [ALTERNATIVES[key]]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 0.5, value * 2, 0.1] if value else [0.1]
    if isinstance(value, PartSpec):
        return [n for n in registry(value.kind).names() if n != value.name]
    if isinstance(value, tuple) and value and all(isinstance(v, float) for v in value):
        return [[v * 0.9 for v in value]]
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return [[0] if value != (0,) else [1]]
    if isinstance(value, str):
        literal = registry(kind).entry(name).params.model_fields[param].annotation
        return [v for v in getattr(literal, "__args__", ()) if v != value]
    raise AssertionError(f"no alternative for {kind} {name}.{param}={value!r}: add one")


def _changed(kind: str, name: str, param: str, start: dict[str, Any]) -> PartSpec:
    """The part with ``param`` changed to the first candidate value it accepts."""
    parts_of_kind = registry(kind)
    value = getattr(parts_of_kind.spec(name, start).params, param)
    for candidate in _candidates(kind, name, param, value):
        try:
            return parts_of_kind.spec(name, {**start, param: candidate})
        except ValueError:
            continue
    raise AssertionError(f"no accepted alternative for {kind} {name}.{param}")


def _digest(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def _module_print(module: torch.nn.Module) -> tuple[Any, ...]:
    plain = [(name, sorted((k, v) for k, v in vars(m).items() if not k.startswith("_")
                           and isinstance(v, bool | int | float | str | tuple)))
             for name, m in module.named_modules()]
    shapes = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
    return repr(module), str(plain), tuple(shapes)


def _seeded(build: Callable[[], Any]) -> Any:
    torch.manual_seed(0)
    return build()


@pytest.fixture(scope="module")
def phantom() -> Any:
    # A craniectomy: the hull method reads air_hu only where the bone ring is open.
    return make_head_phantom((64, 64, 64), (0.5, 0.45, 0.45), np.random.default_rng(3),
                             anatomy=Anatomy(craniectomy=True))


@pytest.fixture(scope="module")
def cases(phantom: Any) -> list[Any]:
    return [preprocess(phantom.hu, phantom.lesion, PAPER_STEPS)] * 2


def _probe_step(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    # The window's top only shows where skull removal does not zero the bone anyway.
    around = NO_PREPROCESSING_STEPS if spec.name == "hu_window" else PAPER_STEPS
    steps = [spec if s.name == spec.name else s for s in around]
    case = preprocess(phantom.hu, phantom.lesion, steps)
    return _digest(case.image, case.brain, case.lesion), case.crop_box


def _probe_sampler(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    seen: dict[str, Any] = {}

    class Queue(tio.Queue):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen["queue"] = sorted((k, repr(v)) for k, v in kwargs.items() if k != "sampler")
            seen["sampler"] = str(vars(kwargs["sampler"]))
            super().__init__(*args, **kwargs)

    original = samplers.tio.Queue
    samplers.tio.Queue = Queue  # type: ignore[misc] # a recording subclass, restored below
    try:
        batch = next(samplers.make_patch_loader(cases, spec, batch_size=2, seed=0))
    finally:
        samplers.tio.Queue = original  # type: ignore[misc]
    return seen["queue"], seen["sampler"], _digest(batch["image"].numpy())


def _probe_inference(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    seen: dict[str, Any] = {}
    original = inference_module.predict_volume

    def spy(model: Any, image: Any, tiling: Any, **kwargs: Any) -> Any:
        seen.update({k: (None if v is None else repr(v)) if k == "brain" else repr(v)
                     for k, v in {**vars(tiling), **kwargs}.items() if k not in ("device",)})
        return original(model, image, tiling, **kwargs)

    inference_module.predict_volume = spy  # type: ignore[assignment] # restored below
    try:
        sliding = registry("inference").create(spec)
        case = cases[0]
        sliding(torch.nn.Conv3d(1, 1, 1), case.image, patch_size=(16, 16, 16),
                device=torch.device("cpu"), amp=False, brain=case.brain.astype(bool))
    finally:
        inference_module.predict_volume = original  # type: ignore[assignment]
    return sorted(seen.items())


def _probe_loss(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 4, 4, 4, generator=generator)
    target = (torch.rand(2, 1, 4, 4, 4, generator=generator) > 0.7).float()
    target[1] = 0
    loss = registry("loss").create(spec, class_counts=(900, 100))
    return float(loss(logits, target))


def _probe_optimizer(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    weight = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    optimizer = registry("optimizer").create(spec, parameters=[weight])
    for step in range(4):  # gradients that change, so both moment estimates matter
        optimizer.zero_grad()
        scale = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64) * (step + 1) ** 2
        (weight * scale).sum().backward()
        optimizer.step()
    return weight.detach().numpy().tolist()


def _probe_schedule(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1e-4)
    schedule = registry("schedule").create(spec, optimizer=optimizer)
    rates = []
    for iteration in (0, 4999, 5000, 5001, 10000, 15000, 20000, 40000):
        schedule.last_epoch = iteration
        rates.append(schedule.get_lr()[0])
    return rates


def _probe_module(structural: dict[str, Any]) -> Callable[..., Any]:
    def probe(spec: PartSpec, phantom: Any, cases: Any) -> Any:
        built = _seeded(lambda: registry(spec.kind).create(spec, **structural))
        return _module_print(built)

    return probe


def _probe_postprocessing(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    mask = np.zeros((12, 12, 12), np.uint8)
    mask[1:5, 1:5, 1:5] = 1  # 64 voxels
    mask[5, 5, 5] = 1  # touches the block at a corner only: joined at connectivity 26
    mask[8:10, 8:10, 8:10] = 1  # 8 voxels: 0.064 mL, between the sizes tried
    kept = registry("postprocessing").create(spec)(mask, (2.0, 2.0, 2.0))  # 8 uL per voxel
    return _digest(kept)


def _probe_baseline(spec: PartSpec, phantom: Any, cases: Any) -> Any:
    """What nnU-Net is handed: its environment (workers), the trainer's run length, the
    trainer and configuration looked up, and the device (the e2e test,
    trial/test_baseline_fold.py, shows nnU-Net's own record of them)."""
    from platform.trial.nnunet_fold import (  # torch
        NnUNetWorkspace,
        nnunet_environment,
        run_length,
        trial_device_for,
    )

    params = spec.params
    with nnunet_environment(NnUNetWorkspace(Path("/nowhere")), Path("/nowhere"), params):
        env = {k: v for k, v in os.environ.items() if k.startswith("nnUNet_")}
    return (env, run_length(params), params.configuration, params.trainer,
            str(trial_device_for(params, torch.device("cuda", 1))))  # as Ray gave it


PROBES: dict[str, Callable[..., Any]] = {
    "preprocessing step": _probe_step,
    "sampler": _probe_sampler,
    "augmentation": lambda spec, phantom, cases: (repr(registry("augmentation").create(spec)),
                                                  str(vars(registry("augmentation").create(spec)))),
    "model": _probe_module({"patch_size": (32, 32, 64)}),
    "block": _probe_module({"in_channels": 2, "out_channels": 32}),
    "norm": _probe_module({"channels": 8}),
    "activation": _probe_module({}),
    "upsample": _probe_module({"in_channels": 8, "out_channels": 4}),
    "loss": _probe_loss,
    "optimizer": _probe_optimizer,
    "schedule": _probe_schedule,
    "inference": _probe_inference,
    "postprocessing": _probe_postprocessing,
    "baseline": _probe_baseline,
}
"""How each kind's consumer is observed."""


def _part_rows() -> Iterator[tuple[str, str, str]]:
    for kind, module in KINDS:
        __import__(module)
        parts_of_kind = registry(kind)
        for name in parts_of_kind.names():
            for param in parts_of_kind.entry(name).params.model_fields:
                yield kind, name, param


def test_every_kind_has_a_probe() -> None:
    assert set(PROBES) == {kind for kind, _ in KINDS}


@pytest.mark.parametrize(("kind", "name", "param"), list(_part_rows()))
def test_every_part_parameter_reaches_its_consumer(kind: str, name: str, param: str,
                                                   phantom: Any, cases: Any) -> None:
    parts_of_kind = registry(kind)
    start = {**BASELINE.get((kind, name), {}), **CONTEXT.get((kind, name, param), {})}
    base = parts_of_kind.spec(name, start)
    changed = _changed(kind, name, param, start)
    assert getattr(changed.params, param) != getattr(base.params, param)
    probe = PROBES[kind]
    assert probe(changed, phantom, cases) != probe(base, phantom, cases), (
        f"{kind} {name!r}: changing {param} did not change what its consumer receives")


# ---- the sweep schema: every field of every section ---------------------------------------

TINY = Path(__file__).resolve().parents[2] / "sweeps" / "tiny.yaml"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder whose ``runs/cache`` holds tiny.yaml's synthetic cohort."""
    root = tmp_path_factory.mktemp("reach")
    sweep = load_sweep(TINY, [f"data.cache_root={root / 'cache'}"])
    materialize_cohort(sweep.data, progress=False)
    return root


def _sweep(workspace: Path, overrides: tuple[str, ...]) -> SweepConfig:
    return load_sweep(TINY, [f"data.cache_root={workspace / 'cache'}",
                             f"ray.storage_path={workspace / 'ray'}",
                             f"tracking.uri=sqlite:///{workspace / 'mlflow.db'}", *overrides])


def _context(sweep: SweepConfig) -> Any:
    return build_context(sweep, materialize_cohort(sweep.data, progress=False),
                         parent_run_id=None)


def _final(sweep: SweepConfig) -> TrialConfig:
    return sweep.resolve_variant("final")


def _fold_keys(sweep: SweepConfig) -> Any:
    context = _context(sweep)
    return [(f.train, f.test) for f in context.folds], context.run_folds


def _cohort(sweep: SweepConfig) -> Any:
    cohort = materialize_cohort(sweep.data, progress=False)
    refs = load_cohort(cohort)
    manifest = yaml.safe_load((cohort / "cohort.yaml").read_text())
    return len(refs), json.dumps(manifest.get("generator"), sort_keys=True)


def _grid(sweep: SweepConfig) -> Any:
    from platform.tune.tuner import TuneRun, grid_settings

    requests = [TrialRequest(spec=s, context=_context(sweep)) for s in expand(sweep)]
    settings = grid_settings(requests,
                             TuneRun(storage=RayStorage.of(sweep.ray), name="n",
                                     resources=sweep.resources, failure=sweep.failure))
    return (settings.resources, settings.tune_config.max_concurrent_trials,
            settings.run_config.storage_path, settings.run_config.failure_config.max_failures)


def _search(sweep: SweepConfig) -> Any:
    from platform.tune.tuner import TuneRun, search_settings

    assert sweep.search is not None
    spec = expand(sweep)[0]
    base = TrialRequest(spec=spec, context=_context(sweep), search_metric=sweep.search.metric)
    settings = search_settings(base, sweep.search, study_name=sweep.search.study_name or "s",
                               n_folds=2,
                               run=TuneRun(storage=RayStorage.of(sweep.ray), name="n",
                                     resources=sweep.resources, failure=sweep.failure))
    limiter = settings.tune_config.search_alg
    searcher = limiter.searcher
    return (repr(settings.param_space["sample"]), settings.tune_config.metric,
            settings.tune_config.mode, settings.tune_config.num_samples,
            limiter.max_concurrent, type(settings.tune_config.scheduler).__name__,
            repr(searcher._storage.url), searcher._study_name,  # noqa: SLF001 -- read only
            searcher._sampler._rng.rng.random(),  # noqa: SLF001 -- the seeded sampler's stream
            spec.variant)


def _ray(sweep: SweepConfig) -> Any:
    from platform.tune.tuner import ray_init_arguments

    return sorted((k, repr(v)) for k, v in ray_init_arguments(sweep.ray).items()
                  if k != "runtime_env")


def _runtime_env(sweep: SweepConfig) -> Any:
    from platform.tune.tuner import ray_init_arguments

    return sorted(ray_init_arguments(sweep.ray)["runtime_env"])


def _storage_filesystem(sweep: SweepConfig) -> Any:
    from platform.tune.tuner import TuneRun, grid_settings

    requests = [TrialRequest(spec=s, context=_context(sweep)) for s in expand(sweep)]
    run_config = grid_settings(requests,
                               TuneRun(storage=RayStorage.of(sweep.ray), name="n",
                                     resources=sweep.resources, failure=sweep.failure)).run_config
    filesystem = run_config.storage_filesystem
    return run_config.storage_path, filesystem and filesystem.__reduce__()[1]


def _cluster_refusal(sweep: SweepConfig) -> Any:
    from platform.tune.storage import cluster_problems

    return cluster_problems(sweep.ray, _context(sweep).tracking_uri)


def _train(sweep: SweepConfig) -> Any:
    """What the training loop receives from the fold trial (the ``train`` section)."""
    from platform.trial import fold
    from platform.trial.fold import load_data

    seen: dict[str, Any] = {}

    def spy(built: Any, make_batches: Any, settings: Any, **kwargs: Any) -> None:
        seen.update(settings.model_dump(mode="json"))

    config, context = _final(sweep), _context(sweep)
    original, fold.train = fold.train, spy  # type: ignore[assignment] # restored below
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fold.train_fold(config, load_data(config, context, context.folds[0]),
                          device=torch.device("cpu"), checkpoint_dir=Path(tmp),
                          on_progress=lambda progress: None)
    finally:
        fold.train = original  # type: ignore[assignment]
    return sorted(seen.items())


def _threads(sweep: SweepConfig) -> Any:
    before = torch.get_num_threads()
    try:
        return parts.configure_threads(_final(sweep), _context(sweep))
    finally:
        torch.set_num_threads(before)


def _batch(sweep: SweepConfig) -> Any:
    config = _final(sweep)
    context = _context(sweep)
    from platform.trial.fold import load_data

    data = load_data(config, context, context.folds[0])
    return tuple(next(parts.patch_batches(config, data.train)(0))["image"].shape)


def _divergence(sweep: SweepConfig) -> Any:
    """The iteration at which the training loop's divergence guard stops a loss of 1 for
    six iterations, then 150 (issue 28; None: never): 10 by default, 7 with a lower
    factor or a shorter window."""
    from platform.trial.stops import DivergingLossError
    from platform.trial.training import TrainingParts, train

    model = torch.nn.Conv3d(1, 1, 1)
    losses = iter([1.0] * 6 + [150.0] * 6)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return logits.sum() * 0.0 + next(losses)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    settings = _final(sweep).train.model_copy(update={"iterations": 12})
    batch = {"image": torch.zeros(1, 1, 2, 2, 2), "lesion": torch.zeros(1, 1, 2, 2, 2)}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            train(TrainingParts(model, loss, optimizer, schedule), lambda seed: iter(
                [batch] * 12), settings, device=torch.device("cpu"), checkpoint_dir=Path(tmp),
                on_progress=lambda progress: None)
    except DivergingLossError as err:
        return err.iteration
    return None


def _preprocessing(sweep: SweepConfig) -> Any:
    from data_pipeline.cache import cache_key

    config, context = _final(sweep), _context(sweep)
    return cache_key(load_cohort(Path(context.cohort))[0], config.preprocessing.steps)


def _evaluation(sweep: SweepConfig) -> Any:
    from platform.trial.fold import evaluate_and_log, load_data

    class Recorder:
        run_id = "recorder"

        def __init__(self) -> None:
            self.calls: list[Any] = []
            self.tags: dict[str, str] = {}

        def set_tags(self, tags: dict[str, str]) -> None:
            self.tags.update(tags)

        def log_figure(self, figure: Any, name: str) -> None:
            self.calls.append(("figure", name))

        def log_per_patient(self, rows: Any) -> None:
            self.calls.append(("rows", [sorted((k, round(float(v), 6)) for k, v in r.items()
                                               if k not in ("case", "seconds")) for r in rows]))

        def log_json(self, data: Any, name: str) -> None:
            self.calls.append(("json", name, json.dumps(data, sort_keys=True)))

        def log_metrics(self, metrics: Any, step: Any = None, model_uri: Any = None) -> None:
            pass

        def log_model(self, model: Any, config: Any, *, code: Any) -> None:
            pass

        def log_model_reference(self, model_uri: Any) -> None:
            pass

    config, context = _final(sweep), _context(sweep)
    data = load_data(config, context, context.folds[0])
    torch.manual_seed(0)
    model = parts.network(config)
    with torch.no_grad():
        model.head.bias.fill_(0.2)  # probabilities near threshold: the threshold shows
    recorder = Recorder()
    evaluate_and_log(model, data, config, recorder, device=torch.device("cpu"))  # type: ignore[arg-type]
    return recorder.calls


def _keys(sweep: SweepConfig) -> Any:
    from platform.sweep.keys import keyed

    return [(s.training_key, s.evaluation_key) for s in keyed(expand(sweep), _context(sweep))]


def _claim(sweep: SweepConfig) -> Any:
    from platform.sweep.keys import keyed
    from platform.trial.fold import training_claim

    context = _context(sweep)
    claim = training_claim(TrialRequest(spec=keyed(expand(sweep), context)[0], context=context))
    return claim.stale_after_s, claim.poll_s


def _reuse_plan(sweep: SweepConfig) -> Any:
    """The plan line of a store that holds a finished training and evaluation of fold 0."""
    from mlflow import MlflowClient

    from platform.sweep.keys import keyed
    from platform.sweep.run import _plan
    from platform.tracking.store import ensure_experiment

    context = _context(sweep)
    spec = keyed(expand(sweep), context)[0]
    client = MlflowClient(context.tracking_uri)
    experiment = ensure_experiment(client, context.tracking_uri, context.experiment)
    if not client.search_runs([experiment], "tags.run_kind = 'training'"):
        for kind, key in (("training", "training_key"), ("trial", "evaluation_key")):
            run = client.create_run(experiment, tags={"run_kind": kind, key: getattr(spec, key),
                                                      "training_key": spec.training_key})
            client.set_terminated(run.info.run_id, "FINISHED")
    return _plan(sweep, context, expand(sweep, every_fold=True), resume=True, retrain=()).line()


def _refusals(sweep: SweepConfig) -> Any:
    from data_pipeline.errors import DataError
    from platform.trial.fold import load_data

    try:
        context = _context(sweep)
        return load_data(_final(sweep), context, context.folds[0]).train_keys
    except DataError as err:
        return f"refused: {err}"


def _case_scores(sweep: SweepConfig) -> Any:
    truth = np.zeros((6, 12, 12), np.uint8)
    truth[1:5, 2:7, 2:7] = 1
    pred = np.roll(truth, 2, axis=2)  # surfaces 2 voxels (1 mm) apart in x
    pred[5, 11, 11] = 1  # a speck that post-processing can remove
    return sorted(case_scores(_final(sweep))(pred, truth, (1.0, 0.5, 0.5)).items())


def _test_cohort(sweep: SweepConfig) -> Any:
    from platform.postprocessing.external_test import load_test_refs

    cohort = materialize_cohort(sweep.data, progress=False)
    try:
        return [ref.key for ref in load_test_refs(sweep.data.test_cohort, load_cohort(cohort))]
    except ValueError as err:  # the copy repeats the cohort's cases: refused, by name
        return f"refused: {err}"


def _inference(sweep: SweepConfig) -> Any:
    brain = np.ones((40, 40, 40), bool)
    return from_config.inference(_final(sweep)).count((40, 40, 40), (16, 16, 16), brain)


def _search_folds(sweep: SweepConfig) -> Any:
    from platform.sweep.search import search_folds as planned

    return [(outer, [(f.train, f.test) for f in inner])
            for outer, inner in planned(sweep, _context(sweep))]


def _variants(sweep: SweepConfig) -> Any:
    return [s.trial_id for s in expand(sweep)], format_trials(expand(sweep)), [
        (v.name, v.description, v.reference_values()) for v in sweep.variants]


def _tracking(sweep: SweepConfig) -> Any:
    context = _context(sweep)
    return context.tracking_uri, context.experiment


_EFFECTS = (0.0, 0.02, 0.05, 0.01, 0.30, 0.04, -0.01)
"""Paired Dice differences of seven patients: a zero (zero_method), a long right tail
(bca), one comparison x five metrics (family, correction), a Holm p near 0.2 (alpha)."""


def _evidence(sweep: SweepConfig) -> Any:
    """Table 1 (Markdown with the words under it, CSV) of fixed runs, as the sweep's layout
    builds it (:meth:`TableLayout.of_sweep`: each row's reference, ``evidence``)."""
    from platform.report.rebuild import TableLayout
    from platform.tracking import TrialResult

    metrics = ("dice", "sensitivity", "specificity", "specificity_brain", "precision")
    results = []
    for index, variant in enumerate(sweep.variant_names):
        rows = [{"case": f"case-{i}", "tp": 90.0 + 100 * i, "fn": 10.0,
                 **{m: 0.3 + 0.05 * i + index * (d + 0.001 * k) for k, m in enumerate(metrics)}}
                for i, d in enumerate(_EFFECTS)]
        results.append(TrialResult(
            run_id=variant, trial_id=variant, variant=variant, fold=0, status="FINISHED",
            metrics={m: float(np.mean([r[m] for r in rows])) for m in metrics},
            per_patient=rows, failure_reason=None))
    table = TableLayout.of_sweep(sweep, sweep.variant_names, (0,)).table1(results)
    strata = table.evidence.strata if table.evidence else None
    return table.to_markdown(), table.to_csv(), strata and strata.to_csv()


def _part_section(section: str) -> Callable[[SweepConfig], Any]:
    def probe(sweep: SweepConfig) -> Any:
        config = _final(sweep)
        if section == "sampler":
            return str(vars(samplers.SAMPLERS.create(config.sampler)))
        if section == "model":
            return _module_print(_seeded(lambda: parts.network(config)))
        built = _seeded(lambda: parts.training_parts(config, (900, 100)))
        return type(getattr(built, section)).__name__, repr(getattr(built, section))

    return probe


SWEEP_REACH: dict[str, tuple[tuple[str, ...], Callable[[SweepConfig], Any]]] = {
    "name": (("name=other",), _tracking),
    "data": (("data.synthetic.patients=5",), _cohort),
    "data.cohort": (("data.cohort={cohort}",), lambda s: _context(s).cohort),
    "data.synthetic": (("data.synthetic.seed=1",), _cohort),
    "data.synthetic.patients": (("data.synthetic.patients=5",), _cohort),
    "data.synthetic.shape": (("data.synthetic.shape=[32,48,40]",), _cohort),
    "data.synthetic.seed": (("data.synthetic.seed=1",), _cohort),
    "data.synthetic.small_lesion_fraction": (("data.synthetic.small_lesion_fraction=0.9",),
                                             _cohort),
    "data.synthetic.craniectomy_fraction": (("data.synthetic.craniectomy_fraction=0.5",),
                                            _cohort),
    "data.cache_root": (("data.cache_root={workspace}/other-cache",),
                        lambda s: _context(s).cache_root),
    "cv": (("cv.seed=1",), _fold_keys),
    "cv.folds": (("cv.folds=3", "data.synthetic.patients=6"), _fold_keys),
    "cv.seed": (("cv.seed=1",), _fold_keys),
    "cv.run_folds": (("cv.run_folds=[1]",), _fold_keys),
    "cv.stratify_by_lesion_volume": (("cv.stratify_by_lesion_volume=true",
                                      "data.synthetic.patients=6", "cv.folds=3"), _fold_keys),
    "cv.splits_file": (("cv.splits_file={splits}",), _fold_keys),
    "base": (("base.train.seed=5",), _train),
    "variants": (("variants[0].name=renamed",), _variants),
    "variants.name": (("variants[0].name=renamed",), _variants),
    "variants.description": (("variants[0].description=changed",), _variants),
    "variants.reference": (("variants[0].reference={{dice: '0.5 +- 0.1'}}",), _variants),
    "variants.config": (("variants[1].train.seed=5",), _variants),
    "variants.compare_to": (("variants[0].compare_to=final",), _evidence),
    "ablation": (("ablation.design=cumulative",), _variants),
    "ablation.design": (("ablation.design=factorial",), _variants),
    "ablation.components": (("ablation.components[0].name=squeeze",), _variants),
    "ablation.components.name": (("ablation.components[0].name=squeeze",), _variants),
    "ablation.components.description": (("ablation.components[0].description=gates",),
                                        _variants),
    "ablation.components.without": (("ablation.components[0].without={{model.residual: "
                                     "false}}",), _variants),
    "evidence": (("evidence.seed=3",), _evidence),
    "evidence.confidence": (("evidence.confidence=0.8",), _evidence),
    "evidence.resamples": (("evidence.resamples=500",), _evidence),
    "evidence.seed": (("evidence.seed=3",), _evidence),
    "evidence.interval": (("evidence.interval=bca",), _evidence),
    "evidence.correction": (("evidence.correction=none",), _evidence),
    "evidence.family": (("evidence.family=metric",), _evidence),
    "evidence.alpha": (("evidence.alpha=0.99",), _evidence),
    "evidence.zero_method": (("evidence.zero_method=pratt",), _evidence),
    "evidence.min_pairs": (("evidence.min_pairs=8",), _evidence),
    "evidence.size_strata": (("evidence.size_strata=2",), _evidence),
    "search": (("search.num_samples=2",), _search),
    "search.space": (('search.space["model.se_ratio"].choice=[2,8]',), _search),
    "search.metric": (("search.metric=val_hd95",), _search),
    "search.mode": (("search.mode=min",), _search),
    "search.num_samples": (("search.num_samples=2",), _search),
    "search.max_concurrent": (("search.max_concurrent=2",), _search),
    "search.pruner": (("search.pruner=asha",), _search),
    "search.storage": (("search.storage={workspace}/other.db",), _search),
    "search.study_name": (("search.study_name=other",), _search),
    "search.seed": (("search.seed=1",), _search),
    "search.variant": (("search.variant=plain",), _search),
    "search.scheme": (("search.scheme=once",), _search_folds),
    "search.inner_folds": (("search.inner_folds=2", "data.synthetic.patients=8"),
                           _search_folds),
    "search.space.choice": (('search.space["model.se_ratio"].choice=[2,8]',), _search),
    "search.space.uniform": (('search.space["optimizer.lr"]={{uniform: [1.0e-4, 2.0e-4]}}',),
                             _search),
    "search.space.loguniform": (('search.space["optimizer.lr"]={{loguniform: [1.0e-4, 3.0e-4]}}',),
                                _search),
    "search.space.randint": (('search.space["model.se_ratio"]={{randint: [2, 5]}}',), _search),
    "resources": (("resources.cpus_per_trial=2.0", "ray.num_cpus=2"), _grid),
    "resources.cpus_per_trial": (("resources.cpus_per_trial=2.0", "ray.num_cpus=2"), _grid),
    "resources.gpus_per_trial": (("resources.gpus_per_trial=0.5",), _grid),
    "resources.max_concurrent_trials": (("resources.max_concurrent_trials=2",), _grid),
    "tracking": (("tracking.experiment=other",), _tracking),
    "tracking.uri": (("tracking.uri=sqlite:///{workspace}/other.db",), _tracking),
    "tracking.experiment": (("tracking.experiment=other",), _tracking),
    "ray": (("ray.object_store_mb=150",), _ray),
    "ray.address": (("ray.address=auto", "ray.num_cpus=null"), _ray),
    "ray.num_cpus": (("ray.num_cpus=2",), _ray),
    "ray.num_gpus": (("ray.num_gpus=1",), _ray),
    "ray.object_store_mb": (("ray.object_store_mb=150",), _ray),
    "ray.include_dashboard": (("ray.include_dashboard=true",), _ray),
    "ray.storage_path": (("ray.storage_path={workspace}/other-ray",), _grid),
    "ray.storage_endpoint": (("ray.storage_endpoint=http://127.0.0.3:9001",),
                             _storage_filesystem),
    "ray.storage_shared": (("ray.storage_shared=true",), _cluster_refusal),
    "ray.ship_code": (("ray.ship_code=true",), _runtime_env),
    "ray.node_ip_address": (("ray.node_ip_address=127.0.0.5",), _ray),
    "failure": (("failure.max_failures=3",), _grid),
    "reuse": (("reuse.enabled=false",), _reuse_plan),
    "reuse.enabled": (("reuse.enabled=false",), _reuse_plan),
    "reuse.match_code": (("reuse.match_code=true",), _keys),
    "reuse.claim_stale_after_s": (("reuse.claim_stale_after_s=9",), _claim),
    "reuse.claim_poll_s": (("reuse.claim_poll_s=1",), _claim),
    "failure.max_failures": (("failure.max_failures=3",), _grid),
    "trial.preprocessing": (("preprocessing.steps=[hu_window, minmax]",), _preprocessing),
    "trial.preprocessing.steps": (("preprocessing.steps=[hu_window, minmax]",), _preprocessing),
    "trial.preprocessing.max_lesion_loss": (("preprocessing.max_lesion_loss=1.0",),
                                            _refusals),
    "trial.sampler": (("sampler.name=uniform",), _part_section("sampler")),
    "trial.model": (("model.name=unet3d",), _part_section("model")),
    "trial.loss": (("loss.name=dice",), _part_section("loss")),
    "trial.optimizer": (("optimizer.lr=2.0e-4",), _part_section("optimizer")),
    "trial.schedule": (("schedule.name=constant",), _part_section("schedule")),
    "trial.train": (("train.log_every=2",), _train),
    "trial.train.iterations": (("train.iterations=3",), _train),
    "trial.train.batch_size": (("train.batch_size=1",), _batch),
    "trial.train.seed": (("train.seed=5",), _train),
    "trial.train.seeds": (("train.seeds=[0, 1]",), _keys),
    "trial.train.checkpoint_every": (("train.checkpoint_every=2",), _train),
    "trial.train.log_every": (("train.log_every=2",), _train),
    "trial.train.amp": (("train.amp=true",), _train),
    "trial.train.channels_last": (("train.channels_last=false",), _train),
    "trial.train.compile": (("train.compile=true",), _train),
    "trial.train.threads": (("train.threads=2",), _threads),
    "trial.train.divergence_factor": (("train.divergence_factor=10",), _divergence),
    "trial.train.divergence_window": (("train.divergence_window=1",), _divergence),
    "trial.eval": (("eval.threshold=0.6",), _evaluation),
    "trial.eval.inference": (("eval.inference.overlap=0.5",), _inference),
    "trial.eval.threshold": (("eval.threshold=0.6",), _evaluation),
    "trial.eval.validation_fraction": (("eval.validation_fraction=0.5",), _search_folds),
    "trial.eval.figure_patients": (("eval.figure_patients=1",), _evaluation),
    "trial.eval.surface_tolerance_mm": (("eval.surface_tolerance_mm=0.5",), _case_scores),
    "trial.eval.postprocessing": (("eval.postprocessing=[keep_largest_component]",),
                                  _case_scores),
    "trial.baseline": (("variants[1].baseline=nnunet",), _keys),
    "data.test_cohort": (("data.test_cohort={cohort}",), _test_cohort),
}
"""Schema field -> (overrides that change it, what its consumer receives)."""

BASES: dict[str, tuple[str, ...]] = {
    "ray.storage_endpoint": ("ray.storage_path=s3://bucket/sweeps",
                             "ray.storage_endpoint=http://127.0.0.2:9000"),
    "ray.storage_shared": ("ray.address=127.0.0.2:6379", "ray.num_cpus=null",
                           "tracking.uri=http://127.0.0.1:5000"),
    "trial.eval.validation_fraction": ("data.synthetic.patients=8",
                                       'search.space={"model.se_ratio": {choice: [4, 8]}}'),
    "trial.preprocessing.max_lesion_loss": (
        "data.synthetic.craniectomy_fraction=1.0", "data.synthetic.shape=[64,64,64]",
        "preprocessing.steps=[hu_window, {remove_skull: {method: enclosed}}, minmax, "
        "crop_to_brain]", "preprocessing.max_lesion_loss=0.0"),
}
"""Settings a row starts from besides tiny.yaml (every search row starts from a search,
every ablation row from a leave-one-out design)."""

_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig, "data.synthetic": SyntheticCohortConfig, "cv": CVConfig,
    "search": SearchConfig, "search.space": Distribution, "resources": ResourcesConfig,
    "tracking": TrackingConfig, "ray": RayConfig, "failure": FailureConfig,
    "reuse": ReuseConfig, "evidence": EvidenceConfig, "ablation": AblationConfig,
    "ablation.components": ComponentConfig,
    "variants": VariantConfig, "trial": TrialConfig, "trial.preprocessing": PreprocessingConfig,
    "trial.train": TrainConfig, "trial.eval": EvalConfig,
}


def _schema_fields() -> set[str]:
    fields = set(SweepConfig.model_fields)
    for prefix, model in _SECTIONS.items():
        fields |= {f"{prefix}.{name}" for name in model.model_fields}
    return fields


def test_every_schema_field_has_a_row() -> None:
    missing = sorted(_schema_fields() - set(SWEEP_REACH))
    assert not missing, f"add a SWEEP_REACH row proving these reach their consumer: {missing}"


@pytest.mark.parametrize("field", sorted(SWEEP_REACH))
def test_every_schema_field_reaches_its_consumer(field: str, workspace: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    changes, probe = SWEEP_REACH[field]
    cohort = materialize_cohort(_sweep(workspace, ()).data, progress=False)
    splits = tmp_path / "splits_final.json"
    keys = sorted(ref.key for ref in load_cohort(cohort))
    splits.write_text(json.dumps([{"train": keys[1:], "val": keys[:1]},
                                  {"train": keys[:1], "val": keys[1:]}]))
    copy = tmp_path / "cohort-copy"
    shutil.copytree(cohort, copy)
    fill = {"cohort": copy, "splits": splits, "workspace": workspace}
    monkeypatch.chdir(workspace)  # relative defaults (search.storage) land in the workspace
    base = BASES.get(field, ())
    if field.startswith("search"):
        base = (*base, 'search.space={"model.se_ratio": {choice: [4, 8]}}')
    if field.startswith("ablation"):
        base = (*base, "ablation={design: leave_one_out, components: [{name: se, without: "
                       "{model.se: false}}]}")
    before = probe(_sweep(workspace, base))
    after = probe(_sweep(workspace, (*base, *(c.format(**fill) for c in changes))))
    assert after != before, f"{field}: {changes} did not change what its consumer receives"

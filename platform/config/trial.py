"""The validated knobs of one trial: preprocessing, sampler, model, loss, optimizer, training.

Why a frozen model: the trainable's only input is a :class:`TrialConfig`. A part (the
sampler, the model, the loss, the optimizer, the schedule, the inference) is a section
``{name: ..., **params}`` validated against that part's own params model, where its
defaults live (the paper's values, or ours where the paper gives none: the generated
``docs/parameters.md`` says which). So a sweep file only writes what an ablation
changes, and a parameter the chosen part does not take is an error, not a silent no-op.
The registries import torch, so they are imported on the first validation, not here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from data_pipeline.defaults import DEFAULT_MAX_LESION_LOSS
from data_pipeline.parts import PartSpec, as_tuple
from data_pipeline.parts.fields import Part, PartOf, part_mapping, switch_part
from platform.config.errors import ConfigError, Problem, did_you_mean, problems_from_validation
from platform.config.types import Fraction, NonNegative, Positive, Section, one_of

__all__ = [
    "EvalConfig",
    "PART_SECTIONS",
    "PreprocessingConfig",
    "part_at",
    "TRIAL_SECTIONS",
    "TrainConfig",
    "TrialConfig",
]

_PREPROCESS = "data_pipeline.preprocess"
StepPart = Annotated[PartSpec, PartOf("preprocessing step", home=_PREPROCESS)]
PostprocessingPart = Annotated[PartSpec, PartOf("postprocessing",
                                                home="platform.postprocessing.rules")]


def _final_steps() -> tuple[PartSpec, ...]:
    steps: tuple[PartSpec, ...] = importlib.import_module(_PREPROCESS).FINAL_STEPS
    return steps


class PreprocessingConfig(Section):
    """Preprocessing steps in the order they run (paper section 2.1)."""

    steps: Annotated[tuple[StepPart, ...], BeforeValidator(as_tuple)] = Field(
        default_factory=_final_steps)
    """The steps, each ``name`` or ``{name: {params}}``: the paper's final model's five,
    each at its default (skull removal: ours, ``hull``; ``sweeps/ablation.yaml`` writes
    the paper's rule out for its literal rows)."""
    max_lesion_loss: Annotated[float, Field(ge=0.0, le=1.0)] = DEFAULT_MAX_LESION_LOSS
    """Largest share of a case's lesion that skull removal or the crop may take; a case
    above it is refused by name before training (ours: nothing shrinks silently; 1.0
    accepts any loss, which is then logged per case)."""

    @field_validator("steps")
    @classmethod
    def _check_order(cls, steps: tuple[PartSpec, ...]) -> tuple[PartSpec, ...]:
        try:
            importlib.import_module(_PREPROCESS).validate_steps(steps)
        except ValueError as err:
            raise PydanticCustomError("bad_steps", "{message}", {"message": str(err)}) from err
        return steps


class TrainConfig(Section):
    """Iterations, batch, seeds and the loop's cadence (paper: 40,000 iterations, batch 2)."""

    iterations: Positive = 40_000
    """Optimizer steps (paper: 40,000)."""
    batch_size: Positive = 2
    """Patches per step (paper: 2)."""
    seed: int = 0
    """Seeds weight initialisation and the patch stream (ours)."""
    seeds: Annotated[tuple[int, ...], BeforeValidator(as_tuple),
                     Field(min_length=1)] | None = None
    """Train each (variant, fold) once per seed, e.g. ``[0, 1, 2]``: each its own
    training with its own work key, so a seed added later trains only that seed; Table 1
    averages each patient over the seeds and splits the variance between folds and seeds
    (ours; the paper trained once). Null: once, with ``seed``."""
    checkpoint_every: Positive = 1000
    """Iterations between checkpoints, the resume points (ours)."""
    log_every: Positive = 50
    """Iterations between logged loss / learning-rate points (ours)."""
    amp: Annotated[bool | str, one_of(True, False, "auto")] = "auto"
    """Mixed precision on a GPU (ours; the paper trained in float32): ``auto`` and
    ``true`` use native bf16, else fp16 with loss scaling; ``false`` float32. The CPU
    always runs float32."""
    channels_last: bool = True
    """``channels_last_3d`` memory layout on a GPU (ours; no effect on CPU)."""
    compile: bool = False
    """Run the forward pass through ``torch.compile`` (ours, off: compiling costs tens of
    seconds up front; ``benchmarks/gpu_check.py`` measures whether it pays on a GPU)."""
    threads: Positive | None = None
    """CPU threads of the trial's torch; null: the trial's Ray CPU share."""
    divergence_factor: Annotated[float, Field(gt=1.0)] | None = 100.0
    """Stop the trial (not retried; Table 1 says why) when the mean loss of the newer half
    of the last ``2 x divergence_window`` iterations exceeds this many times the older
    half's (ours; the paper has no guard: ``platform/trial/stops.py``); null: off. A NaN
    or Inf loss always stops the trial."""
    divergence_window: Positive = 50
    """Iterations in each half the divergence guard compares (ours)."""

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if seeds is not None and len(set(seeds)) != len(seeds):
            raise PydanticCustomError("repeated_seed", "a seed is listed twice",
                                      {"got": list(seeds)})
        return seeds

    @model_serializer(mode="wrap")
    def _seeds_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``seeds`` out while null: the work keys and trial ids hash this dump, and
        a sweep that names no seeds keeps the keys it had before the field existed."""
        data: dict[str, Any] = handler(self)
        if self.seeds is None:
            data.pop("seeds", None)
        return data

    def each_seed(self) -> tuple[TrainConfig, ...]:
        """One ``train`` section per seed to train: ``seeds`` spelled out as ``seed``
        (and ``seeds`` null), or this section alone."""
        if self.seeds is None:
            return (self,)
        return tuple(self.model_copy(update={"seed": seed, "seeds": None})
                     for seed in self.seeds)


def _inference_shorthand(data: Any) -> Any:
    """Accept ``eval: {overlap: 0.5}`` for ``eval: {inference: {overlap: 0.5}}``.

    The inference part's parameters used to sit directly under ``eval``; sweep files
    written so keep working, and a key given both ways is an error.
    """
    if not isinstance(data, Mapping):
        return data
    moved = {key: data[key] for key in ("overlap", "batch_size", "skip_outside_brain")
             if key in data}
    if not moved:
        return data
    inference = data.get("inference", {})
    if isinstance(inference, str):
        inference = {"name": inference}
    if not isinstance(inference, Mapping):
        return data
    twice = sorted(set(moved) & set(inference))
    if twice:
        raise PydanticCustomError("given_twice", "given both under eval and eval.inference",
                                  {"got": twice})
    rest = {k: v for k, v in data.items() if k not in moved}
    return {**rest, "inference": {**inference, **moved}}


class EvalConfig(Section):
    """Tiled inference and scoring of held-out patients (paper: 25 % overlap, threshold 0.5)."""

    inference: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "inference", "sliding_window", home="platform.inference.sliding_window")
    """How a whole volume is predicted (paper: patches on a grid, averaged)."""
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    """Probability at or above which a voxel is lesion (paper: 0.5)."""
    validation_fraction: Fraction = 0.2
    """Share of a fold's training patients a search validates on (ours)."""
    figure_patients: NonNegative = 2
    """Held-out patients drawn as Fig. 4-style contour pictures per trial (ours)."""
    surface_tolerance_mm: Annotated[float, Field(ge=0.0)] = 2.0
    """Tolerance of the surface Dice, in mm (ours: about four voxels of the paper's 0.4-0.5
    mm grid; the paper reports no surface metric)."""
    postprocessing: Annotated[tuple[PostprocessingPart, ...], BeforeValidator(as_tuple)] = ()
    """Post-processing candidates, each tried on the cross-validation predictions and the
    best applied only if it raises mean Dice (as nnU-Net chooses; paper: none)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _inference_shorthand(data)


_MODELS = "models"
_BASELINES = "platform.trial.baselines"
_BASELINE_SECTIONS = ("baseline", "eval")
"""What a baseline row's ids and keys hash: the rest of its config has no consumer."""


class TrialConfig(Section):
    """Everything one trial needs besides its data and fold: the trainable's only input."""

    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    """Preprocessing steps (paper section 2.1)."""
    sampler: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "sampler", "label", home="data_pipeline.samplers")
    """Training patches (paper section 2.2: the weighted label sampler)."""
    model: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "model", "unet3d_residual_se", home=_MODELS)
    """The network (paper section 2.3: the residual SE U-Net)."""
    loss: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "loss", "weighted_bce_dice", home=_MODELS)
    """The loss (paper section 2.4: voxel-weighted BCE + soft Dice)."""
    optimizer: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "optimizer", "adam", home=_MODELS)
    """The optimizer (paper section 2.5: Adam)."""
    schedule: Part(  # type: ignore[valid-type]  # Part() builds the Annotated type at runtime
        "schedule", "step_halving", home=_MODELS)
    """The per-iteration learning-rate schedule (paper section 2.5)."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """The training loop."""
    eval: EvalConfig = Field(
        default_factory=EvalConfig)  # type: ignore[arg-type]  # mypy takes Part() fields as required
    """Inference and scoring of held-out patients."""
    baseline: Annotated[PartSpec, PartOf("baseline", None, home=_BASELINES)] | None = None
    """A foreign baseline trained and predicted its own way on the same folds, its
    predictions scored as ours (``nnunet``: nnU-Net v2; ``docs/baselines.md``); null: our
    network. A baseline row uses none of the sections above but ``eval``."""

    @field_validator("model")
    @classmethod
    def _model_takes_the_patch(cls, model: PartSpec, info: ValidationInfo) -> PartSpec:
        """A network built for one patch size (UNETR) or with a size rule (SwinUNETR: edges
        multiples of 32) is checked against the sampler's patch here, before Ray starts."""
        sampler = info.data.get("sampler")
        if sampler is None:  # the sampler was refused: its own error says why
            return model
        patch = tuple(sampler.params.patch_size)
        problem = importlib.import_module(_MODELS).network_problem(model, patch)
        if problem is not None:
            raise PydanticCustomError("network_patch", "{message}", {"message": problem})
        return model

    sections: ClassVar[tuple[str, ...]] = (
        "preprocessing", "sampler", "model", "loss", "optimizer", "schedule", "train", "eval",
        "baseline")

    unscored: ClassVar[tuple[str, ...]] = ("eval.figure_patients", "eval.validation_fraction")
    """Settings that change no number of an evaluation (pictures; searches only): left out
    of evaluation keys (:mod:`platform.sweep.keys`) and of the rows Table 1 compares
    (:mod:`platform.report.same_rows`)."""
    cpu_inert: ClassVar[tuple[str, ...]] = ("train.amp", "train.channels_last")
    """Settings that change nothing on a CPU: autocast and the channels-last layout apply
    on CUDA only (:func:`models.precision.autocast_dtype`, ``platform.trial.training.train``,
    ``platform.inference.sliding_window.predict_volume``); Table 1 says when two rows
    differ only in them on a CPU (:mod:`platform.report.same_rows`)."""

    added_later: ClassVar[dict[str, tuple[str, ...]]] = {
        "train": ("divergence_factor", "divergence_window")}
    """Fields added after sweeps were stored (issue 28), per section: left out of
    :meth:`identity` while at their defaults, so earlier ids and keys stay the same."""

    def identity(self, exclude: Sequence[str] = ()) -> dict[str, Any]:
        """The config as ids and work keys hash it (:mod:`platform.sweep.keys`,
        :mod:`platform.sweep.expand`): the JSON dump without the sections ``exclude`` and
        without an :attr:`added_later` field at its default; a baseline's config is its
        ``baseline`` and ``eval`` sections only (nothing else reaches a baseline)."""
        data = self.model_dump(mode="json", exclude=set(exclude))
        if self.baseline is None:
            data.pop("baseline", None)  # added later (issue 24): earlier keys stay the same
        else:  # a baseline consumes its own section and eval only
            data = {k: v for k, v in data.items() if k in _BASELINE_SECTIONS}
        for section, names in self.added_later.items():
            model = type(getattr(self, section))
            for name in names:
                if section in data and data[section].get(name) == model.model_fields[name].default:
                    del data[section][name]
        return data

    def with_overrides(self, dotted: Mapping[str, Any], source: str = "overrides") -> TrialConfig:
        """A copy with ``{"model.se_ratio": 8, ...}`` applied and validated.

        Raises:
            ConfigError: When a path is unknown or a value is invalid; lines start with
                ``source`` and name the dotted path.
        """
        config, problems = self.try_overrides(dotted, source)
        if config is None:
            raise ConfigError(problems)
        return config

    def try_overrides(
        self, dotted: Mapping[str, Any], source: str
    ) -> tuple[TrialConfig | None, list[Problem]]:
        """Like :meth:`with_overrides`, but return ``(None, problems)`` instead of raising."""
        data = self.model_dump(mode="json")
        problems = []
        # A part's name first: switching the part drops the old part's parameters.
        for path, value in sorted(dotted.items(), key=lambda item: not item[0].endswith(".name")):
            where = tuple(path.split("."))
            parts = [int(p) if p.isdigit() else p for p in where]
            if len(parts) < 2 or parts[0] not in self.sections:
                known = parts[0] in self.sections
                problems.append(Problem(source, where, "not a knob path such as 'model.se_ratio'",
                                        allowed=self.sections, suggestion=None if known
                                        else did_you_mean(parts[0], self.sections)))
                continue
            target = data[parts[0]]
            for part in parts[1:-1]:
                target = target.get(str(part)) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                problems.append(Problem(source, where, "a knob path goes through mappings only"))
                continue
            marker = part_at(where[:-1], data) if where[-1] == "name" else None
            if marker is not None and isinstance(value, str):
                switched = switch_part(target, value, marker.default, marker.registry())
                target.clear()
                target.update(switched)
                continue
            target[str(parts[-1])] = value
        if problems:
            return None, problems
        try:
            return TrialConfig.model_validate(data), []
        except ValidationError as err:
            return None, problems_from_validation(err, source, TrialConfig)


TRIAL_SECTIONS: tuple[str, ...] = TrialConfig.sections
"""The sections of a trial, in YAML order; also the shorthand prefixes of overrides."""

def part_at(path: Sequence[str], data: Mapping[str, Any] | None = None) -> PartOf | None:
    """The part field at ``path`` below a trial config (``("model", "norm")``), or None.

    A part nested in another part's parameters (a U-Net's norm) is found through the
    params model of the enclosing part named in ``data`` (the trial config as plain
    data); without ``data`` the enclosing parts' defaults are assumed.
    """
    model: type[BaseModel] | None = TrialConfig
    node: Any = data or {}
    marker: PartOf | None = None
    for key in path:
        info = model.model_fields.get(key) if model is not None else None
        if info is None:
            return None
        marker = next((m for m in info.metadata if isinstance(m, PartOf)), None)
        node = node.get(key) if isinstance(node, Mapping) else None
        if marker is not None:
            parts = marker.registry()
            try:
                name, _ = part_mapping({} if node is None else node, marker.default, parts)
            except ValueError:
                return None
            model = parts.entry(name).params if name in parts else None
        else:
            annotation = info.annotation
            model = annotation if isinstance(annotation, type) and issubclass(
                annotation, BaseModel) else None
    return marker


PART_SECTIONS: dict[str, PartOf] = {
    name: next(m for m in info.metadata if isinstance(m, PartOf))
    for name, info in TrialConfig.model_fields.items()
    if any(isinstance(m, PartOf) for m in info.metadata)
}
"""The sections that are one part each (``{name, **params}``), with their kinds."""

"""The validated knobs of one trial: preprocessing, sampler, model, loss, optimizer, training.

Why a frozen model: the trainable's only input is a :class:`TrialConfig`; every knob
has the value of Dobshik et al. (2023, arXiv:2301.06793) as its default, so a sweep
file only writes what an ablation changes. Names of parts (``model.norm``,
``loss.name``, preprocessing steps, samplers, augmentations) are checked against the
registries of ``models`` and ``data_pipeline`` the first time one is validated
(:func:`platform.config_types.registered_names`), so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from platform.config_errors import ConfigError, Problem, did_you_mean, problems_from_validation
from platform.config_types import (
    Fraction,
    NonNegative,
    Positive,
    Section,
    Shape3,
    as_tuple,
    int_keys,
    one_of,
    registered,
)

__all__ = [
    "AugmentationConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "PreprocessingConfig",
    "SamplerConfig",
    "ScheduleConfig",
    "StepConfig",
    "TRIAL_SECTIONS",
    "TrainConfig",
    "TrialConfig",
]

PAPER_STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("hu_window", {}), ("remove_skull", {}), ("standardize", {}),
    ("minmax", {"background": "scaled"}), ("crop_to_brain", {}),
)
"""The final model's steps. Min-max is the paper's literal one over the whole volume:
after standardization it lifts the background to mid-grey; keeping it at 0 instead would
make standardization a no-op (min-max undoes any affine map of the brain)."""
"""Preprocessing of the paper's final model (Table 1, last row), in order."""


class _NamedParams(Section):
    """A part written as ``name`` or ``{name: {param: value}}`` in YAML."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, Mapping) and "name" not in value:
            if len(value) != 1:
                raise ValueError("write a part as a name or as a one-key mapping {name: {params}}")
            ((name, params),) = value.items()
            return {"name": name, "params": {} if params is None else params}
        return value

    def __str__(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})" if inner else self.name


class StepConfig(_NamedParams):
    """One preprocessing step; its params are checked by ``data_pipeline.preprocess``."""

    name: Annotated[str, registered("preprocessing step")]

    @model_validator(mode="after")
    def _check_params(self) -> StepConfig:
        _checked_by_preprocess("validate_step", [self])
        return self


class AugmentationConfig(_NamedParams):
    """One training-time augmentation (off by default: the paper found them harmful)."""

    name: Annotated[str, registered("augmentation")]


def _checked_by_preprocess(check: str, steps: list[StepConfig]) -> None:
    """Run ``data_pipeline.preprocess.validate_step`` on one step (its params) or
    ``validate_steps`` on the list (order rules); their message becomes the error."""
    preprocess = importlib.import_module("data_pipeline.preprocess")
    specs = [preprocess.StepSpec(s.name, dict(s.params)) for s in steps]
    try:
        getattr(preprocess, check)(specs[0] if check == "validate_step" else specs)
    except (ValueError, TypeError, KeyError) as err:
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise PydanticCustomError("bad_steps", "{message}", {"message": message}) from err


class PreprocessingConfig(Section):
    """Preprocessing steps in the order they run (paper section 2.1)."""

    steps: Annotated[tuple[StepConfig, ...], BeforeValidator(as_tuple)] = Field(
        default_factory=lambda: tuple(StepConfig(name=n, params=p) for n, p in PAPER_STEPS))

    @field_validator("steps")
    @classmethod
    def _check_sequence(cls, steps: tuple[StepConfig, ...]) -> tuple[StepConfig, ...]:
        _checked_by_preprocess("validate_steps", list(steps))
        return steps

    def step_specs(self) -> list[Any]:
        """The steps as ``data_pipeline.preprocess.StepSpec`` objects (imports the package)."""
        preprocess = importlib.import_module("data_pipeline.preprocess")
        return [preprocess.StepSpec(s.name, dict(s.params)) for s in self.steps]


class SamplerConfig(Section):
    """Training patches (paper section 2.2): label sampler, 128^3, 32 patches per patient."""

    name: Annotated[str, registered("sampler")] = "label"
    patch_size: Shape3 = (128, 128, 128)
    patches_per_patient: Positive = 32
    queue_length: Positive = 64
    num_workers: NonNegative = 0
    label_probabilities: Annotated[dict[int, Annotated[float, Field(ge=0.0)]],
                                   BeforeValidator(int_keys)] = {0: 0.0, 1: 0.5, 2: 0.5}
    augmentations: Annotated[tuple[AugmentationConfig, ...], BeforeValidator(as_tuple)] = ()

    @field_validator("label_probabilities")
    @classmethod
    def _sums_to_one(cls, value: dict[int, float]) -> dict[int, float]:
        if set(value) - {0, 1, 2}:
            raise PydanticCustomError(
                "bad_label", "labels are 0 (background), 1 (healthy brain) and 2 (lesion)",
                {"allowed": ("0", "1", "2"), "got": sorted(value)})
        if abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1 (they sum to {sum(value.values()):g})")
        return value


class ModelConfig(Section):
    """The 3D U-Net (paper section 2.3); keyword names follow ``models.unet3d.unet3d``."""

    name: Annotated[str, registered("model")] = "unet3d"
    base_width: Positive = 16
    depth: Annotated[int, Field(ge=1, le=7)] = 4
    norm: Annotated[str, registered("norm")] = "instance"
    activation: Annotated[str, registered("activation")] = "leaky_relu"
    residual: bool = True
    se: bool = True
    se_ratio: Positive = 16
    upsample: Annotated[str, registered("upsample")] = "trilinear"
    checkpointing: bool = False


class LossConfig(Section):
    """BCE + soft Dice, voxel-weighted in the final model (paper section 2.4)."""

    name: Annotated[str, registered("loss")] = "weighted_bce_dice"
    eps: Annotated[float, Field(gt=0.0)] = 1.0e-5
    batch_dice: bool = True


class OptimizerConfig(Section):
    """Adam with L2 weight decay (paper section 2.5)."""

    name: Annotated[str, registered("optimizer")] = "adam"
    lr: Annotated[float, Field(gt=0.0)] = 1.0e-4
    weight_decay: Annotated[float, Field(ge=0.0)] = 1.0e-5
    betas: Annotated[tuple[Fraction, Fraction], BeforeValidator(as_tuple)] = (0.9, 0.999)


class ScheduleConfig(Section):
    """Learning rate halved every 5000 iterations down to 1.25e-5 (paper section 2.5)."""

    name: Annotated[str, registered("schedule")] = "step_halving"
    every: Positive = 5000
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    min_lr: Annotated[float, Field(ge=0.0)] = 1.25e-5


class TrainConfig(Section):
    """Iterations, batch, seeds and the loop's cadence (paper: 40,000 iterations, batch 2)."""

    iterations: Positive = 40_000
    batch_size: Positive = 2
    seed: int = 0
    checkpoint_every: Positive = 1000
    log_every: Positive = 50
    amp: Annotated[bool | str, one_of(True, False, "auto")] = "auto"
    channels_last: bool = True
    threads: Positive | None = None


class EvalConfig(Section):
    """Tiled inference and scoring (paper: 25 % overlap, threshold 0.5)."""

    overlap: Fraction = 0.25
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    batch_size: Positive = 1
    skip_outside_brain: bool = True
    validation_fraction: Fraction = 0.2
    figure_patients: NonNegative = 2


class TrialConfig(Section):
    """Everything one trial needs besides its data and fold: the trainable's only input."""

    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    sections: ClassVar[tuple[str, ...]] = (
        "preprocessing", "sampler", "model", "loss", "optimizer", "schedule", "train", "eval")

    def as_flat_dict(self) -> dict[str, Any]:
        """Knobs as ``{"model.se_ratio": 16, ...}`` with scalar or list values (MLflow params).

        Named parts render as ``name`` or ``name(param=value)``; label probabilities as
        ``sampler.label_probabilities.<label>``.
        """
        flat: dict[str, Any] = {}
        for section in self.sections:
            for knob, value in getattr(self, section):
                key = f"{section}.{knob}"
                if isinstance(value, dict):
                    flat.update({f"{key}.{k}": v for k, v in value.items()})
                elif isinstance(value, tuple) and value and isinstance(value[0], _NamedParams):
                    flat[key] = "+".join(str(v) for v in value)
                else:
                    flat[key] = list(value) if isinstance(value, tuple) else value
        return flat

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
        data = self.model_dump()
        problems = []
        for path, value in dotted.items():
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
                target = target.get(part) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                problems.append(Problem(source, where, "a knob path goes through mappings only"))
                continue
            target[parts[-1]] = value
        if problems:
            return None, problems
        try:
            return TrialConfig.model_validate(data), []
        except ValidationError as err:
            return None, problems_from_validation(err, source, TrialConfig)

    def builder_kwargs(self, section: str) -> dict[str, Any]:
        """Keyword arguments for the registered builder of ``section`` (loss, schedule, ...).

        A knob the named builder does not take is left out, so that ``schedule.name:
        constant`` ignores ``every``/``factor``/``min_lr``. Imports ``models`` (torch).
        """
        part = getattr(self, section)
        entry = importlib.import_module("models.registry").get_registry(section).entry(part.name)
        accepts = _keyword_names(entry.builder)
        return {k: v for k, v in part if k != "name" and (accepts is None or k in accepts)}


def _keyword_names(builder: Callable[..., Any]) -> set[str] | None:
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


TRIAL_SECTIONS: tuple[str, ...] = TrialConfig.sections
"""The sections of a trial, in YAML order; also the shorthand prefixes of overrides."""

"""Sweep files: the schema, the loader and the command-line overrides (issue 8, parts 1-2).

A sweep file names the data, the cross-validation, a ``base`` trial configuration (the
paper's values by default, :mod:`platform.config.trial`), the ``variants`` run in order
(Table 1 of Dobshik et al. 2023 is six of them), an optional Optuna ``search``, and how
Ray, MLflow and retries behave. :func:`load_sweep` reads it with ``yaml.safe_load``,
applies overrides (:mod:`platform.config.overrides`) and validates everything before
Ray starts: every mistake is reported at once by a :class:`ConfigError` naming the file,
the YAML path (``variants[2].model.se_ratio``), the value, the allowed values and the
closest match. Relative paths are resolved against the current working directory when
the file is loaded, so trials that Ray starts in other folders see the same files.
The full reference is ``sweeps/README.md``.

Example:
    >>> sweep = load_sweep(Path("sweeps/ablation.yaml"), ["train.iterations=200"])
    >>> [v.name for v in sweep.variants][:2], sweep.resolve_variant("final").train.iterations
    (['no_preprocessing', 'preprocessing'], 200)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from data_pipeline.parts import as_tuple
from platform.config.designs import AblationConfig
from platform.config.errors import ConfigError, Problem, did_you_mean, problems_from_validation
from platform.config.evidence import EvidenceConfig
from platform.config.overrides import Origin, apply_overrides
from platform.config.runtime import (
    FailureConfig,
    RayConfig,
    ResourcesConfig,
    ReuseConfig,
    TrackingConfig,
)
from platform.config.search import SearchConfig
from platform.config.trial import TrialConfig
from platform.config.types import AbsPath, Failure, Name, NonNegative, Section, VolumeShape, fail
from platform.config.variants import VariantConfig, parse_reference, variant_with_config

__all__ = [
    "ConfigError",
    "CVConfig",
    "AblationConfig",
    "DataConfig",
    "EvidenceConfig",
    "FailureConfig",
    "RayConfig",
    "ResourcesConfig",
    "ReuseConfig",
    "SearchConfig",
    "SweepConfig",
    "SyntheticCohortConfig",
    "TrackingConfig",
    "TrialConfig",
    "VariantConfig",
    "load_sweep",
    "parse_reference",
]



class SyntheticCohortConfig(Section):
    """A synthetic cohort (``data_pipeline.synthetic``), generated under the cache on first use."""

    patients: Annotated[int, Field(ge=2)] = 10
    """Patients to generate (at least ``cv.folds``)."""
    shape: VolumeShape = (96, 128, 128)
    """Volume ``(z, y, x)`` in voxels, each side 32..1024."""
    seed: int = 0
    """Seed of anatomy, lesions, noise and the fake identities."""
    small_lesion_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    """Share of patients with small lesions (0.05-0.3 % of the volume; ours)."""
    craniectomy_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    """Share of patients with a decompressive hemicraniectomy over the lesion (ours:
    skull removal must keep the brain under an open bone ring); every head has open
    skull-base slices."""


class DataConfig(Section):
    """Which cohort: a folder / ``cohort.yaml`` / CSV, or a synthetic one (the default).

    ``synthetic`` describes the generated cohort used while ``cohort`` is null; it is
    ignored once ``cohort`` names real data.
    """

    cohort: AbsPath | None = None
    """A cohort folder (with ``cohort.yaml``), a ``cohort.yaml``, a CSV or an nnU-Net raw
    dataset; null: synthetic."""
    test_cohort: AbsPath | None = None
    """An external test cohort (any layout ``cohort`` takes, e.g. an nnU-Net dataset's
    ``imagesTs``): never in cross-validation; each variant's fold ensemble is scored on
    it after the sweep. Null: none."""
    synthetic: SyntheticCohortConfig = Field(default_factory=SyntheticCohortConfig)
    """The synthetic cohort, generated under ``cache_root`` on first use."""
    cache_root: AbsPath = Field(default="runs/cache", validate_default=True)
    """Preprocessed volumes and generated cohorts."""

    @property
    def is_synthetic(self) -> bool:
        """Whether the sweep runs on the synthetic cohort (``cohort`` is null)."""
        return self.cohort is None

    def identity(self) -> dict[str, Any]:
        """What makes the data what it is (for trial ids): the cohort path or the generator."""
        if self.cohort is not None:
            return {"cohort": str(self.cohort)}
        return {"synthetic": self.synthetic.model_dump(mode="json")}


class CVConfig(Section):
    """Patient-level k-fold cross-validation (paper: five random folds)."""

    folds: Annotated[int, Field(ge=2)] = 5
    """Patient-level folds (paper: 5)."""
    seed: int = 0
    """Seed of the random patient split (ours)."""
    run_folds: Annotated[tuple[NonNegative, ...], BeforeValidator(as_tuple)] | None = None
    """Test folds to run, e.g. ``[0]``; null runs all, in order."""
    stratify_by_lesion_volume: bool = False
    """Deal patients sorted by lesion volume out to the folds, so every test fold spans
    small to large lesions (ours; the paper's split is plain random)."""
    splits_file: AbsPath | None = None
    """An nnU-Net ``splits_final.json`` to use instead of a random split."""

    @model_validator(mode="after")
    def _folds_exist(self) -> CVConfig:
        allowed = {"allowed": (f"0..{self.folds - 1}",)}
        bad: list[Failure] = [(("run_folds", i), f"no fold {fold} with folds={self.folds}", fold,
                               allowed) for i, fold in enumerate(self.run_folds or ())
                              if fold >= self.folds]
        if self.run_folds is not None and len(set(self.run_folds)) != len(self.run_folds):
            bad.append((("run_folds",), "a fold is listed twice", list(self.run_folds), {}))
        fail("CVConfig", bad)
        return self

    def folds_to_run(self) -> tuple[int, ...]:
        """The fold indices to run, in order (all of them unless ``run_folds`` is set)."""
        return self.run_folds if self.run_folds is not None else tuple(range(self.folds))


class SweepConfig(Section):
    """A whole sweep file, validated; see ``sweeps/README.md`` for every key."""

    name: Name
    """The sweep's name; the MLflow experiment by default."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Which cohort."""
    cv: CVConfig = Field(default_factory=CVConfig)
    """Cross-validation."""
    base: TrialConfig = Field(
        default_factory=TrialConfig)  # type: ignore[arg-type]  # mypy takes Part() fields as required
    """The trial configuration every variant starts from."""
    variants: Annotated[tuple[VariantConfig, ...], BeforeValidator(as_tuple)] = ()
    """Named variants, run in this order (after those ``ablation`` generates)."""
    ablation: AblationConfig | None = None
    """Variants generated from the full model's components: ``cumulative``,
    ``leave_one_out`` or ``factorial`` (:mod:`platform.config.designs`)."""
    search: SearchConfig | None = None
    """An optional Optuna search over knobs of one variant."""
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    """What one trial reserves."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Where runs are logged."""
    ray: RayConfig = Field(default_factory=RayConfig)
    """Where trials run."""
    failure: FailureConfig = Field(default_factory=FailureConfig)
    """Retries."""
    reuse: ReuseConfig = Field(default_factory=ReuseConfig)
    """Finished trainings and evaluations taken from the store instead of redone."""
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    """Paired effects, intervals and corrected tests beside Table 1 (no work key)."""

    @model_validator(mode="before")
    @classmethod
    def _resolve_variants(cls, data: Any) -> Any:
        data = _with_generated_variants(data)
        if not isinstance(data, Mapping) or not isinstance(data.get("variants"), list | tuple):
            return data
        base = data.get("base")
        base = base if isinstance(base, Mapping) else {}
        variants = [variant_with_config(v, base) if isinstance(v, Mapping) else v
                    for v in data["variants"]]
        search = data.get("search")
        if isinstance(search, Mapping) and search.get("variant") is None and variants \
                and isinstance(variants[-1], Mapping):
            search = {**search, "variant": variants[-1].get("name")}
        return {**data, "variants": variants, "search": search}

    @model_validator(mode="after")
    def _cross_checks(self) -> SweepConfig:
        problems = _variant_problems(self.variants) + _resource_problems(self)
        if self.search is not None and self.variants:
            unknown = self.search.problems(self.variant_names)
            problems += unknown or self.search.space_problems(self.tuned_config())
        fail("SweepConfig", problems)
        return self

    @property
    def variant_names(self) -> tuple[str, ...]:
        """The variants' names, in run order."""
        return tuple(v.name for v in self.variants)

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment: ``tracking.experiment``, else the sweep's name."""
        return self.tracking.experiment or self.name

    def comparisons(self) -> dict[str, str]:
        """The rows compared with another row than the one above them: each variant's
        ``compare_to`` (``{variant: reference}``; a design sets it on its variants)."""
        return {v.name: v.compare_to for v in self.variants if v.compare_to is not None}

    def factorial_cells(self) -> dict[str, tuple[str, ...]]:
        """``{variant: components on}`` of a factorial ``ablation`` (else empty)."""
        return self.ablation.factorial_cells() if self.ablation is not None else {}

    def resolve_variant(self, name: str) -> TrialConfig:
        """The validated config of variant ``name`` (base merged with its sections).

        Raises:
            ConfigError: When no variant has that name (the message lists them).
        """
        for variant in self.variants:
            if variant.name == name:
                return variant.config
        raise ConfigError([Problem(f"sweep {self.name!r}", ("variants",),
                                   f"no variant named {name!r}", allowed=self.variant_names,
                                   suggestion=did_you_mean(name, self.variant_names))])

    @property
    def tuned_variant(self) -> str:
        """The variant a search tunes: ``search.variant`` (the last variant by default)."""
        chosen = self.search.variant if self.search is not None else None
        return chosen or self.variants[-1].name

    def tuned_config(self) -> TrialConfig:
        """The config a search starts from (see :attr:`tuned_variant`)."""
        return self.resolve_variant(self.tuned_variant)

    def with_overrides(self, dotted: Mapping[str, Any]) -> TrialConfig:
        """The tuned variant's config with a search sample applied: ``{"model.se_ratio": 8}``.

        Raises:
            ConfigError: When a path or a value is invalid (lines start ``search sample``).
        """
        return self.tuned_config().with_overrides(dotted, source="search sample")


def _with_generated_variants(data: Any) -> Any:
    """``data`` with the variants its ``ablation`` section generates put first.

    A sweep dumped and validated again already holds them (same names): nothing is added.
    An invalid ``ablation`` section adds nothing; its own validation reports it.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("ablation"), Mapping):
        return data
    written = data.get("variants", [])
    if not isinstance(written, list | tuple):
        return data
    try:
        generated = AblationConfig.model_validate(data["ablation"]).variants()
    except ValidationError:
        return data
    names = {v.get("name") for v in written if isinstance(v, Mapping)}
    if all(v["name"] in names for v in generated):
        return data
    plain = [{k: v for k, v in variant.items() if k != "components_on"} for variant in generated]
    return {**data, "variants": [*plain, *written]}


def _variant_problems(variants: Sequence[VariantConfig]) -> list[Failure]:
    if not variants:
        return [(("variants",), "no variants: give at least one, such as {name: base} "
                 "to run the base config as it is", [], {})]
    first: dict[str, int] = {}
    problems: list[Failure] = []
    for index, variant in enumerate(variants):
        if variant.name in first:
            problems.append((("variants", index, "name"), f"duplicate variant name (also "
                             f"variants[{first[variant.name]}])", variant.name, {}))
        first.setdefault(variant.name, index)
    names = tuple(first)
    for index, variant in enumerate(variants):
        target = variant.compare_to
        if target is not None and (target == variant.name or target not in first):
            problems.append((("variants", index, "compare_to"), "not another variant of the "
                             "sweep", target, {"allowed": names}))
    return problems


def _resource_problems(sweep: SweepConfig) -> list[Failure]:
    problems: list[Failure] = []
    if sweep.data.is_synthetic and sweep.data.synthetic.patients < sweep.cv.folds:
        problems.append((("data", "synthetic", "patients"), f"fewer patients than "
                         f"cv.folds={sweep.cv.folds}: every test fold needs one",
                         sweep.data.synthetic.patients, {}))
    for knob, cap in (("cpus_per_trial", "num_cpus"), ("gpus_per_trial", "num_gpus")):
        want, have = getattr(sweep.resources, knob), getattr(sweep.ray, cap)
        if have is not None and want is not None and want > have:
            problems.append((("resources", knob), f"more than ray.{cap}={have}: no trial "
                             "could start", want, {}))
    return problems


def load_sweep(path: Path | str, overrides: Sequence[str] = ()) -> SweepConfig:
    """Read, override and validate a sweep file; nothing runs yet.

    Args:
        path: The YAML file.
        overrides: ``path=value`` strings applied after the file, left to right
            (:mod:`platform.config.overrides` documents paths and precedence).

    Returns:
        The validated, frozen sweep, with relative paths made absolute.

    Raises:
        ConfigError: Listing every problem in the file and the overrides, one per line.
    """
    path = Path(path)
    raw = _read_mapping(path)
    data, origins = apply_overrides(raw, overrides, SweepConfig.model_fields)
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as err:
        problems = problems_from_validation(err, str(path), SweepConfig)
        raise ConfigError(_as_written(problems, origins)) from err


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read the sweep file ({err.strerror})"]) from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = "; ".join(str(p) for p in (getattr(err, "context", None),
                                              getattr(err, "problem", None) or err) if p)
        start = getattr(err, "context_mark", None)
        if start is not None and mark is not None and start.line != mark.line:
            problem += f" (the block started at line {start.line + 1})"
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from err
    if not isinstance(raw, dict):
        shown = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError([f"{path}: a sweep file is a mapping of sections (name, data, cv, "
                           f"base, variants, ...); got {shown}"])
    return raw


def _as_written(problems: list[Problem], origins: Sequence[Origin]) -> list[Problem]:
    """Show paths as the user wrote them: variants without the internal ``config`` part,
    errors a variant only inherits from ``base`` once, and override errors on the override."""
    shown: list[Problem] = []
    for problem in problems:
        path = problem.path
        if path[:1] == ("variants",) and path[2:3] == ("config",):
            path = path[:2] + path[3:]
        shown.append(dataclasses.replace(problem, path=path))
    in_base = {(p.path[1:], p.problem, repr(p.got)) for p in shown if p.path[:1] == ("base",)}
    result: list[Problem] = []
    for problem in shown:
        if problem.path[:1] == ("variants",) and (problem.path[2:], problem.problem,
                                                  repr(problem.got)) in in_base:
            continue
        for origin in reversed(origins):
            if problem.path[: len(origin.target)] == origin.target:
                problem = dataclasses.replace(
                    problem, source=f"override {origin.text!r}",
                    path=origin.path + problem.path[len(origin.target):])
                break
        if problem not in result:
            result.append(problem)
    return result

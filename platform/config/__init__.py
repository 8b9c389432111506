"""The sweep file's schema: loading, overrides, validation and the errors they raise.

Modules, one concern each: :mod:`.sweep` (the whole file and :func:`load_sweep`),
:mod:`.trial` (one trial's knobs), :mod:`.search` (the Optuna space), :mod:`.runtime`
(resources, Ray, MLflow, retries), :mod:`.inputs` (the files the config names exist),
:mod:`.overrides` (``key=value`` on the command line), :mod:`.errors` (one line per
problem with its YAML path) and :mod:`.types` (shared field types).
"""

from __future__ import annotations

from platform.config.errors import ConfigError
from platform.config.sweep import SweepConfig, VariantConfig, load_sweep
from platform.config.trial import TrialConfig

__all__ = ["ConfigError", "SweepConfig", "TrialConfig", "VariantConfig", "load_sweep"]

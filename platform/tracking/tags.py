"""Every MLflow tag name and run kind the platform writes and reads: one leaf module.

A run's ``run_kind`` says what it is: ``sweep`` (the parent run of one sweep),
``training`` (one training, its learning curves and portable model) or ``evaluation``
(one evaluation of a training on a fold's test patients: what Table 1 reads) or
``ensemble`` (a variant's fold ensemble, its model ``<variant>-ensemble`` and the scores
linked to it). Evaluation
runs written before the stage layout (issue 26) carry ``run_kind=trial``; every reader
takes both (:data:`EVALUATION_KINDS`), so a lab's finished sweeps are still reused and
reported.
"""

from __future__ import annotations

__all__ = ["ENSEMBLE", "EVALUATION", "EVALUATION_KEY", "EVALUATION_KINDS", "LEGACY_EVALUATION",
           "PARENT_TAG", "REUSED_FROM", "RUN_KIND", "SWEEP", "TRAINING", "TRAINING_KEY",
           "TRAINING_RUN", "kind_filters"]

PARENT_TAG = "mlflow.parentRunId"
"""MLflow's own tag of a nested run's parent (the sweep's run)."""
RUN_KIND = "run_kind"
SWEEP = "sweep"
TRAINING = "training"
EVALUATION = "evaluation"
ENSEMBLE = "ensemble"
LEGACY_EVALUATION = "trial"
"""``run_kind`` of evaluation runs written before issue 26: read, never written."""
EVALUATION_KINDS = (EVALUATION, LEGACY_EVALUATION)
TRAINING_KEY = "training_key"
EVALUATION_KEY = "evaluation_key"
TRAINING_RUN = "training_run"
"""On an evaluation run: the id of the training run whose model it evaluated."""
REUSED_FROM = "reused_from"
"""On a link run of a reused evaluation: the run that did the work."""

_READ_AS = {SWEEP: (SWEEP,), TRAINING: (TRAINING,), EVALUATION: EVALUATION_KINDS,
            ENSEMBLE: (ENSEMBLE,)}


def kind_filters(kind: str) -> tuple[str, ...]:
    """MLflow filter clauses that together find every run of ``kind``, old runs included
    (one search per clause: MLflow's filter has no ``IN`` for tags).

    Raises:
        KeyError: ``kind`` is not ``sweep``, ``training``, ``evaluation`` or ``ensemble``.
    """
    return tuple(f"tags.{RUN_KIND} = '{value}'" for value in _READ_AS[kind])

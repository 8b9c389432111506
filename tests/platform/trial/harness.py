"""Run one trial of ``sweeps/tiny.yaml`` in this process, as ``python -m platform.trial`` does.

No Ray: the trial's own :func:`platform.trial.run.run_trial` with a console reporter, a
checkpoint folder on disk and an MLflow SQLite store beside it. Shared by the trial tests
(``test_run.py``, ``test_fold.py``, ``test_portable_model.py``), the predict tests
(``postprocessing/test_predict.py``) and the session's trained trial
(``tests/platform/conftest.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from platform.config import load_sweep
from platform.config.request import SweepContext, TrialRequest, TrialSpec
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.trial.fold import FoldOutcome
from platform.trial.run import ConsoleReporter, run_trial

__all__ = ["LEARNING_OVERRIDES", "REPO", "run_spec", "trial_context"]

REPO = Path(__file__).resolve().parents[3]

# Small enough for CI on 2 cores (~1 min), large enough to learn the hypodense lesions:
# 4 training patients, 32^3 patches, a width-8 U-Net and a constant learning rate of 1e-3.
LEARNING_OVERRIDES = [
    "data.synthetic.patients=6", "data.synthetic.shape=[56,80,80]", "cv.folds=3",
    "sampler.patch_size=[32,32,32]", "sampler.patches_per_patient=8",
    "sampler.queue_length=16", "model.base_width=8", "model.depth=3",
    "schedule.name=constant", "optimizer.lr=1.0e-3", "train.iterations=80",
    "train.checkpoint_every=40", "train.log_every=5", "eval.figure_patients=1",
]


def trial_context(tmp: Path, cache: Path, overrides: list[str],
                  ) -> tuple[SweepContext, dict[tuple[str, int], Any]]:
    """tiny.yaml with ``overrides``, its store in ``tmp/mlruns``: the context and the keyed
    specs by ``(variant, fold)``."""
    sweep = load_sweep(REPO / "sweeps" / "tiny.yaml", [
        f"data.cache_root={cache}", f"tracking.uri=sqlite:///{tmp / 'mlruns' / 'mlflow.db'}",
        *overrides,
    ])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    return context, {(s.variant, s.fold): s for s in keyed(expand(sweep), context)}


def run_spec(spec: TrialSpec, context: SweepContext, work: Path, *,
             fresh: bool = False) -> FoldOutcome:
    """Run the trial; ``fresh``: train even where the store holds the same training."""
    reporter = ConsoleReporter(work / "checkpoint", iterations=spec.config.train.iterations)
    request = TrialRequest(spec=spec, context=context,
                           fresh_after_ms=int(time.time() * 1000) if fresh else None)
    (outcome,) = run_trial(request, reporter, work_dir=work)
    return outcome

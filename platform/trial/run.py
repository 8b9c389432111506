"""One trial: train a (variant, fold), evaluate its held-out patients, log it to MLflow.

The same function runs under Ray Tune (:func:`trainable`) and alone for debugging::

    python -m platform.trial sweeps/quickstart.yaml --variant final --fold 0

Why the split between :func:`run_trial` and the reporters: the trial is a plain function
of its validated config; only the reporter knows whether progress goes to Ray Tune
(``tune.report`` with a directory checkpoint, resumed through ``tune.get_checkpoint``)
or to a progress bar and a checkpoint folder on disk.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch

from platform.config import ConfigError, load_sweep
from platform.config.request import TrialRequest
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.trial.fold import FAILURE_FILE, FoldOutcome, Reporter, evaluate, trained_model
from platform.trial.parts import configure_threads, trial_device

__all__ = ["ConsoleReporter", "RayReporter", "main", "run_trial", "trainable"]

logger = logging.getLogger(__name__)


class ConsoleReporter:
    """A progress bar and a checkpoint folder on disk: for ``python -m platform.trial``."""

    def __init__(self, checkpoint_dir: Path, *, iterations: int) -> None:
        from tqdm import tqdm

        self.checkpoint_dir = checkpoint_dir
        self._bar = tqdm(total=iterations, unit="it", desc="training", dynamic_ncols=True)

    def restore_dir(self) -> Path | None:
        return self.checkpoint_dir if (self.checkpoint_dir / "checkpoint.pt").exists() else None

    def placement(self) -> dict[str, str]:
        return {}

    def report(self, metrics: Mapping[str, float], checkpoint_dir: Path | None) -> None:
        if "iteration" in metrics:
            self._bar.update(int(metrics["iteration"]) - self._bar.n)
            self._bar.set_postfix(loss=f"{metrics['train_loss']:.4f}", lr=f"{metrics['lr']:.2e}")
            return
        self._bar.close()
        logger.info("fold means: %s", {k: round(v, 4) for k, v in metrics.items()})


class RayReporter:
    """Progress to Ray Tune; each checkpoint is reported as a directory checkpoint."""

    def __init__(self) -> None:
        from ray import tune

        self._tune = tune
        self._restored: ExitStack | None = None

    def restore_dir(self) -> Path | None:
        checkpoint = self._tune.get_checkpoint()
        if checkpoint is None:
            return None
        self._restored = ExitStack()
        return Path(self._restored.enter_context(checkpoint.as_directory()))

    def placement(self) -> dict[str, str]:
        """Where this attempt runs: the node's address and the GPUs Ray assigned."""
        import ray

        gpus = [str(gpu) for gpu in ray.get_gpu_ids()]
        return {"ray_node_ip": ray.util.get_node_ip_address(),
                "ray_gpu_ids": ",".join(gpus) or "none"}

    def report(self, metrics: Mapping[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = (
            self._tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        )
        self._tune.report(dict(metrics), checkpoint=checkpoint)


def run_trial(request: TrialRequest, reporter: Reporter, *, work_dir: Path,
              device: torch.device | None = None) -> tuple[FoldOutcome, ...]:
    """Train (or reuse) one training and run its evaluations; log everything to MLflow.

    Args:
        request: the trial, validated and keyed; ``request.evaluations`` share its training.
        work_dir: where this attempt writes its checkpoints before reporting them.
        device: where to train (the GPU Ray assigned); None: :func:`trial_device`.

    Returns:
        One outcome per evaluation, in ``request.evaluations`` order.

    Raises:
        platform.trial.training.NonFiniteLossError: the loss became NaN/Inf (run marked FAILED).
    """
    configure_threads(request.spec.config, request.context)
    checkpoint_dir = work_dir / "checkpoint"
    restored = reporter.restore_dir()
    if restored is not None and restored != checkpoint_dir:
        shutil.copytree(restored, checkpoint_dir, dirs_exist_ok=True)
    if (checkpoint_dir / FAILURE_FILE).exists():
        reason = json.loads((checkpoint_dir / FAILURE_FILE).read_text())["reason"]
        raise RuntimeError(f"trial {request.spec.trial_id} stopped earlier, not retried: {reason}")
    device = device or trial_device(request.context)
    model, data, training_run = trained_model(request, device=device,
                                              checkpoint_dir=checkpoint_dir,
                                              report=reporter.report,
                                              placement=reporter.placement())
    outcomes = tuple(evaluate(request, spec, model, data, training_run, device=device)
                     for spec in request.evaluations)
    reporter.report({**outcomes[0].fold_means, "done": 1.0}, None)
    return outcomes


def trainable(config: dict[str, Any]) -> None:
    """Ray Tune entry: ``config = {"request": TrialRequest, "sample": {knob: value}}``.

    The request is validated here, first; a search sample (non-empty ``sample``) loops
    the folds on validation patients, a grid trial trains and tests one fold.
    """
    import ray
    from ray import tune

    request = TrialRequest.from_ray(config)
    # The GPU Ray assigned this trial (one, or a share of one), or the CPU.
    device = trial_device(request.context, ray.get_gpu_ids())
    if device.type == "cuda":
        torch.cuda.set_device(device)  # pinned copies and cuDNN plans on that GPU too
    if request.search_metric is not None:
        from platform.trial.search_sample import run_search_sample

        configure_threads(request.spec.config, request.context)
        run_search_sample(request, search_trial_id=tune.get_context().get_trial_id(),
                          device=device, reporter=RayReporter())
        return
    work_dir = Path(tune.get_context().get_trial_dir()) / "work"
    run_trial(request, RayReporter(), work_dir=work_dir, device=device)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m platform.trial",
        description="Run one (variant, fold) trial of a sweep without Ray, for debugging.",
    )
    parser.add_argument("sweep", type=Path, help="sweep YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.iterations=20")
    parser.add_argument("--variant", required=True, help="variant name from the sweep file")
    parser.add_argument("--fold", type=int, required=True, help="test fold index (0-based)")
    parser.add_argument("--work-dir", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_intermixed_args(argv)  # options may sit between the overrides


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry of ``python -m platform.trial``; returns the process exit code."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("platform").setLevel(logging.INFO)
    try:
        sweep = load_sweep(args.sweep, args.overrides)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    chosen = [s for s in expand(sweep) if s.variant == args.variant and s.fold == args.fold]
    if not chosen:
        names = list(sweep.variant_names)
        print(f"no trial for variant {args.variant!r} fold {args.fold}; variants: {names}, "
              f"folds: {list(sweep.cv.folds_to_run())}", file=sys.stderr)
        return 2
    context = build_context(sweep, materialize_cohort(sweep.data), parent_run_id=None)
    spec, = keyed(chosen, context)
    request = TrialRequest(spec=spec, context=context)
    work_dir = args.work_dir or Path(tempfile.gettempdir()) / "stroke-trials" / spec.trial_id
    reporter = ConsoleReporter(work_dir / "checkpoint", iterations=spec.config.train.iterations)
    outcome, = run_trial(request, reporter, work_dir=work_dir)
    print(json.dumps(outcome.fold_means, indent=2))
    return 0


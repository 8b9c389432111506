"""nnU-Net v2 on one fold of the sweep: export, plan and preprocess once, train, predict.

Why in the trial's process, through nnU-Net's Python API: a baseline row is one Ray Tune
trial per fold like ours (same folds, keys, claims, retries), so nnU-Net runs where Ray
placed the trial, on its GPU. What ``nnUNetv2_plan_and_preprocess`` and ``nnUNetv2_train``
do, done here step by step:

1. The cohort is exported once per content key (the data's fingerprint, the split and
   nnU-Net's version) as a raw dataset by our exporter
   (:func:`data_pipeline.io.nnunet_export.write_nnunet_dataset`), under
   ``<data.cache_root>/nnunet/<key>/`` (the folder every node of a sweep already shares
   for preprocessed data); nnU-Net plans and preprocesses it there once per
   configuration, under a file lock, so concurrent fold trials wait for one of them.
2. Our folds are written as its ``splits_final.json``: nnU-Net's fold ``k`` trains on our
   fold ``k``'s training patients and validates on its test patients.
3. The trainer class is found by nnU-Net's own lookup (by name, in its package, then
   ``nnUNet_extTrainer``); epochs and iterations, when given, are set on the trainer
   before it initialises, so a short run is the stock trainer (its checkpoint loads with
   ``nnUNetv2_predict -tr nnUNetTrainer``) and no class is written into nnU-Net's package.
4. ``run_training`` then ``perform_actual_validation`` (what ``nnUNetv2_train`` runs): the
   test patients are predicted with nnU-Net's own inference and written as masks on the
   scan's original grid, with nnU-Net's own ``summary.json`` beside them.

nnU-Net reads its folders from ``nnUNet_raw``, ``nnUNet_preprocessed`` and
``nnUNet_results``; they are set for the duration of each step and restored after.
Results live under ``<key>/results/<training key>/``, so two trainings never share a
folder. Cost: nnU-Net's defaults train 1000 epochs x 250 iterations (a day or more per
fold on one GPU); the planner sizes patches and batches for about 8 GB of GPU memory.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from filelock import FileLock

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.cohort.splits import Fold, save_nnunet_splits
from data_pipeline.content_hash import content_hash
from data_pipeline.io.nnunet_export import write_nnunet_dataset
from platform.config.request import FoldKeys, SweepContext

if TYPE_CHECKING:  # the params module registers this runner: a type only, no cycle
    from platform.trial.baselines import NnUNetParams

__all__ = ["DATASET_ID", "DATASET_NAME", "NnUNetFold", "NnUNetWorkspace", "nnunet_environment",
           "prepare_workspace", "run_length", "run_nnunet_fold", "train_and_predict",
           "trial_device_for", "workspace_key"]

logger = logging.getLogger(__name__)

DATASET_ID = 501
DATASET_NAME = f"Dataset{DATASET_ID}_StrokeCT"
"""nnU-Net's name of the exported cohort (one dataset per workspace: the id never clashes)."""
_PREPROCESS_PROCESSES = {"2d": 8, "3d_fullres": 4, "3d_lowres": 8}
"""``nnUNetv2_plan_and_preprocess``'s default ``-np`` per configuration."""
PLANS = "nnUNetPlans"
"""nnU-Net's default plans identifier (``ExperimentPlanner``)."""


@dataclass(frozen=True)
class NnUNetWorkspace:
    """One cohort and split as nnU-Net sees it: its raw, preprocessed and results roots."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def preprocessed(self) -> Path:
        """nnU-Net's preprocessed folder of the dataset (plans, splits_final.json)."""
        return self.root / "preprocessed" / DATASET_NAME

    def results(self, training_key: str) -> Path:
        """The ``nnUNet_results`` root of one training."""
        return self.root / "results" / training_key


@dataclass(frozen=True)
class NnUNetFold:
    """What one trained and predicted fold left on disk."""

    folder: Path
    """nnU-Net's ``fold_<k>`` folder (``checkpoint_final.pth``, its training log)."""
    predictions: Path
    """``fold_<k>/validation``: ``<case key>.nii.gz`` masks and nnU-Net's ``summary.json``."""
    train_seconds: float
    predict_seconds: float

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint_final.pth"

    def artifacts(self) -> list[tuple[Path, str]]:
        """``(file, artifact folder)`` to log on the training run besides the predictions:
        the trained fold's checkpoint and training log, nnU-Net's plans and dataset."""
        fold = [self.checkpoint, *sorted(self.folder.glob("training_log_*.txt")),
                self.folder / "progress.png"]
        plans = [self.folder.parent / name
                 for name in ("plans.json", "dataset.json", "dataset_fingerprint.json")]
        return ([(path, "nnunet/fold") for path in fold if path.exists()]
                + [(path, "nnunet") for path in plans if path.exists()])


def workspace_key(context: SweepContext) -> str:
    """What a workspace's files depend on: the data, the split and nnU-Net's version."""
    return content_hash({"data": context.data_fingerprint,
                         "folds": [fold.model_dump(mode="json") for fold in context.folds],
                         "nnunetv2": metadata.version("nnunetv2")}, chars=16)


@contextmanager
def nnunet_environment(workspace: NnUNetWorkspace, results: Path,
                       params: NnUNetParams) -> Iterator[None]:
    """nnU-Net's environment variables pointed at ``workspace`` (restored afterwards)."""
    values = {"nnUNet_raw": str(workspace.raw),
              "nnUNet_preprocessed": str(workspace.preprocessed.parent),
              "nnUNet_results": str(results)}
    if params.workers is not None:
        values["nnUNet_n_proc_DA"] = str(params.workers)
        values["nnUNet_def_n_proc"] = str(max(1, params.workers))
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def prepare_workspace(context: SweepContext, params: NnUNetParams) -> NnUNetWorkspace:
    """Export, plan and preprocess the sweep's cohort once (cached by content key, under a
    file lock) and write the sweep's folds as ``splits_final.json``."""
    workspace = NnUNetWorkspace(Path(context.cache_root) / "nnunet" / workspace_key(context))
    workspace.root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(workspace.root / ".lock")), \
            nnunet_environment(workspace, workspace.root / "results", params):
        exported = workspace.root / "exported.done"
        if not exported.exists():
            write_nnunet_dataset(workspace.raw, load_cohort(Path(context.cohort)),
                                 name=DATASET_NAME)
            exported.touch()
        preprocessed = workspace.root / f"preprocessed-{params.configuration}.done"
        if not preprocessed.exists():
            _plan_and_preprocess(workspace, params)
            preprocessed.touch()
        splits = workspace.preprocessed / "splits_final.json"
        if not splits.exists():
            save_nnunet_splits(splits, [Fold(f.index, f.train, f.test) for f in context.folds])
    return workspace


def _plan_and_preprocess(workspace: NnUNetWorkspace, params: NnUNetParams) -> None:
    """``nnUNetv2_plan_and_preprocess -d ID --verify_dataset_integrity -c CONFIG``."""
    # nnunetv2: the optional baselines extra, imported when a baseline trial runs.
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    processes = max(1, params.workers) if params.workers is not None else None
    threads = torch.get_num_threads()
    da = os.environ.get("nnUNet_n_proc_DA")
    if da == "0":  # the planner sets torch's threads to it, and refuses 0
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        fingerprint = {} if processes is None else {"num_processes": processes}
        extract_fingerprints([DATASET_ID], check_dataset_integrity=True,
                             show_progress_bar=False, **fingerprint)
        plan_experiments([DATASET_ID])
        preprocess([DATASET_ID], PLANS, configurations=(params.configuration,),
                   num_processes=(processes or _PREPROCESS_PROCESSES[params.configuration],))
    finally:
        torch.set_num_threads(threads)
        if da == "0":
            os.environ["nnUNet_n_proc_DA"] = da


def train_and_predict(workspace: NnUNetWorkspace, params: NnUNetParams, *, fold: int,
                      training_key: str, device: torch.device) -> NnUNetFold:
    """Train nnU-Net's fold ``fold`` and predict its validation (our test) patients.

    A retried trial resumes nnU-Net's own way: from ``checkpoint_final.pth`` (prediction
    only) or ``checkpoint_latest.pth`` (nnU-Net's ``--c``).

    Raises:
        KeyError: nnU-Net finds no trainer class of that name.
    """
    results = workspace.results(training_key)
    with nnunet_environment(workspace, results, params):
        trainer = _trainer(workspace, params, fold=fold, device=device)
        threads = torch.get_num_threads()
        started = time.perf_counter()
        final = Path(trainer.output_folder) / "checkpoint_final.pth"
        latest = Path(trainer.output_folder) / "checkpoint_latest.pth"
        if final.exists() or latest.exists():
            trainer.load_checkpoint(str(final if final.exists() else latest))
        if not final.exists():
            trainer.run_training()
        trained = time.perf_counter()
        trainer.perform_actual_validation(save_probabilities=False)
        torch.set_num_threads(threads)
    folder = Path(trainer.output_folder)
    return NnUNetFold(folder=folder, predictions=folder / "validation",
                      train_seconds=trained - started,
                      predict_seconds=time.perf_counter() - trained)


def _trainer(workspace: NnUNetWorkspace, params: NnUNetParams, *, fold: int,
             device: torch.device) -> Any:
    """nnU-Net's trainer of ``params.trainer`` for ``fold``, with the run length set."""
    # nnunetv2: the optional baselines extra, imported when a baseline trial runs.
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        trainer_class = recursive_find_trainer_class_by_name(params.trainer)
    except (RuntimeError, ImportError) as err:
        raise KeyError(f"baseline.trainer: nnU-Net found no usable trainer {params.trainer!r} "
                       f"({str(err).splitlines()[0]}); name a class in nnunetv2.training."
                       "nnUNetTrainer, or set nnUNet_extTrainer to your trainers' folder") from err
    plans = json.loads((workspace.preprocessed / f"{PLANS}.json").read_text())
    # nnU-Net's trainer pops this flag in __init__ (its logger's resume); a resumed
    # training's curves come back from the checkpoint (load_checkpoint).
    plans["continue_training"] = False
    dataset = json.loads((workspace.preprocessed / "dataset.json").read_text())
    trainer = trainer_class(plans=plans, configuration=params.configuration, fold=fold,
                            dataset_json=dataset, device=device)
    for name, value in run_length(params).items():
        setattr(trainer, name, value)
    return trainer


def run_length(params: NnUNetParams) -> dict[str, int]:
    """The trainer attributes ``params`` set before training (only those given)."""
    given = {"num_epochs": params.epochs, "num_iterations_per_epoch": params.iterations_per_epoch,
             "num_val_iterations_per_epoch": params.val_iterations_per_epoch}
    return {name: value for name, value in given.items() if value is not None}


def trial_device_for(params: NnUNetParams, trial_device: torch.device) -> torch.device:
    """Where nnU-Net runs: ``params.device``, or the trial's device for ``auto``.

    Raises:
        ValueError: ``cuda`` asked for where there is no GPU.
    """
    if params.device == "auto":
        return trial_device
    if params.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("baseline.device: 'cuda' asked for, but this trial has no GPU; use "
                         "'auto' (the trial's device) or give trials a GPU "
                         "(resources.gpus_per_trial)")
    return torch.device(params.device)


def run_nnunet_fold(params: NnUNetParams, *, context: SweepContext, fold: FoldKeys,
                    training_key: str, device: torch.device) -> NnUNetFold:
    """The baseline's fold runner (:data:`platform.trial.baselines.BASELINES`)."""
    workspace = prepare_workspace(context, params)
    result = train_and_predict(workspace, params, fold=fold.index, training_key=training_key,
                               device=trial_device_for(params, device))
    _check_split(result, fold.test)
    return result


def _check_split(result: NnUNetFold, test: Sequence[str]) -> None:
    """nnU-Net predicted exactly the fold's test patients (it read our split)."""
    predicted = sorted(p.name.removesuffix(".nii.gz")
                       for p in result.predictions.glob("*.nii.gz"))
    if predicted != sorted(test):
        raise RuntimeError(f"nnU-Net predicted {predicted}, not the fold's test patients "
                           f"{sorted(test)}: its splits_final.json is not this sweep's")

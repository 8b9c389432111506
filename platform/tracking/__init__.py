"""MLflow tracking: the only package that imports mlflow.

It never imports the trial layer and never draws (figures come in as files from
:mod:`platform.report.figures`). Modules, one concern each:

- :mod:`.store`: which store (tracking URI precedence, SQLite layout) and the client calls
  every module shares;
- :mod:`.tags`: every tag name and run kind (a leaf module);
- :mod:`.sweep_runs`: the parent run of a sweep invocation (create, find, end);
- :mod:`.runs`: each training's and evaluation's child run (create, resume, log, end);
- :mod:`.artifacts`: JSON documents and folders of files logged on a run, checked for PHI;
- :mod:`.results`: reading finished runs back (Table 1, reports, ``predict``);
- :mod:`.payloads`: what is logged, as MLflow wants it (flattened params, per-patient CSV);
- :mod:`.phi_guard`: no DICOM identifier reaches the store;
- :mod:`.provenance`: git commit, host and library versions as tags;
- :mod:`.work`: finished trainings and evaluations found by key, link runs of reused
  evaluations;
- :mod:`.claims`: a claim on a training key, so two sweeps never train it at once;
- :mod:`.portable_model`: the portable pyfunc model of a trial (MLflow's side of it;
  :mod:`platform.trial.portable_model` wires the network and the segmentation in);
- :mod:`.model_reference`: a run's ``model/`` that loads a logged model (``runs:/<id>/model``
  of an evaluation or a training whose model has another name);
- :mod:`.registry`: register a variant's best fold model under a name and alias;
- :mod:`.ensemble_model`: a variant's fold ensemble as one pyfunc model (members by
  reference; :mod:`platform.postprocessing.ensemble_model` wires the averaging in);
- :mod:`.relocate`: point a moved SQLite store's artifact URIs at its new folder;
- :mod:`.ui`: the MLflow UI address that opens a sweep's evaluation runs;
- :mod:`.model_flavor`: the path models logged before issue 26 import their class from.

mlflow itself is imported inside the functions that call it, so a CLI that only
validates a sweep (``--help``, an invalid file) does not pay its import time.
"""

from __future__ import annotations

from platform.tracking.artifacts import log_files, log_json
from platform.tracking.results import (
    TrialResult,
    fetch_trial_results,
    find_sweep_parent,
    load_trial_model,
    log_table,
    metric_history,
    read_json,
    read_run_text,
)
from platform.tracking.runs import TrialRun, find_trial_run, run_tags
from platform.tracking.store import resolve_tracking_uri
from platform.tracking.sweep_runs import end_run, find_sweep_run, start_sweep_run

__all__ = [
    "TrialResult",
    "TrialRun",
    "end_run",
    "fetch_trial_results",
    "find_sweep_parent",
    "find_sweep_run",
    "find_trial_run",
    "load_trial_model",
    "log_files",
    "log_json",
    "log_table",
    "metric_history",
    "read_json",
    "read_run_text",
    "resolve_tracking_uri",
    "run_tags",
    "start_sweep_run",
]

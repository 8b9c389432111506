"""Where the MLflow UI shows a sweep as a researcher wants it first.

MLflow 3.17's UI has two modes, GenAI (traces, an assistant) and model training (runs,
models), and picks one from the ``workflowType`` query of the page's address, else from
the browser's last choice (GenAI in a new browser), not from the experiment's
``mlflow.experimentKind`` tag (which :func:`platform.tracking.store.ensure_experiment`
sets all the same). So the sweep prints, and the README shows, an address that carries
the mode, the filter on evaluation runs and the sort by Dice. ``tests/platform/tracking/
test_ui.py`` opens it in headless Chromium.
"""

from __future__ import annotations

__all__ = ["UI_RUNS_QUERY", "ui_url"]

UI_RUNS_QUERY = ("workflowType=machine_learning&searchFilter=tags.run_kind%20%3D%20"
                 "%27evaluation%27&orderByKey=metrics.%60dice%60&orderByAsc=false"
                 "&compareRunsMode=CHART")
"""The runs page of an experiment as a researcher wants it first: model-training mode,
the evaluation runs only (one per variant and fold, flat), best Dice first, as charts
(one bar per run for each of the evaluation's metrics: Dice is the second; the table view
lists no metric column until one is picked)."""


def ui_url(base: str, experiment_id: str) -> str:
    """The MLflow UI page that opens experiment ``experiment_id`` on its evaluation runs.

    ``base`` is where the UI answers (``http://127.0.0.1:5000``). Without the
    ``workflowType`` query MLflow 3.17 opens a new browser on its GenAI overview (traces).
    """
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{UI_RUNS_QUERY}"

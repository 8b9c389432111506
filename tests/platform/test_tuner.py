"""Ray Tune helpers that need no cluster (the sweep tests run the rest end to end)."""

from __future__ import annotations

from pathlib import Path

from platform.tuner import experiment_path, set_aside


def test_restart_sets_the_earlier_state_aside_without_deleting_it(tmp_path: Path):
    assert set_aside(tmp_path, "quickstart-abc") is None  # nothing to move
    state = experiment_path(tmp_path, "quickstart-abc")
    (state / "trial").mkdir(parents=True)
    (state / "trial" / "result.json").write_text("{}")
    kept = set_aside(tmp_path, "quickstart-abc")
    assert kept is not None and not state.exists()
    assert kept.name.startswith("quickstart-abc.replaced-")
    assert (kept / "trial" / "result.json").read_text() == "{}"

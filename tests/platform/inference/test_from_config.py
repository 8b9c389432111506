"""platform.inference.from_config: the whole-volume inference and patch size a trial's config
asks for, as every user of a trained network reads them (evaluation, ensembles, the
portable model)."""

from __future__ import annotations

from pathlib import Path

from platform.config import load_sweep
from platform.inference.from_config import inference, patch_size
from platform.inference.sliding_window import SlidingWindow
from platform.inference.tiles import count_patches
from platform.sweep.expand import expand

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


def _final(overrides: list[str]):  # noqa: ANN202
    (spec,) = [s for s in expand(load_sweep(TINY, overrides)) if s.variant == "final"]
    return spec.config


def test_the_configured_sliding_window_and_the_training_patch_size() -> None:
    config = _final(["eval.inference.overlap=0.5", "eval.inference.batch_size=3",
                     "sampler.patch_size=[24,32,40]"])
    sliding = inference(config)
    assert isinstance(sliding, SlidingWindow)
    assert (sliding.params.overlap, sliding.params.batch_size) == (0.5, 3)
    assert patch_size(config) == (24, 32, 40)
    assert sliding.count((48, 64, 80), patch_size(config), None) == count_patches(
        (48, 64, 80), (24, 32, 40), 0.5, None)


def test_a_denser_overlap_in_the_config_runs_more_patches() -> None:
    sparse, dense = (inference(_final([f"eval.inference.overlap={o}"])) for o in (0.0, 0.5))
    config = _final([])
    shape = (64, 64, 64)
    assert dense.count(shape, patch_size(config), None) > sparse.count(
        shape, patch_size(config), None)

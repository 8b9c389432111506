"""Tests for data_pipeline/synthetic/smooth_field.py."""

from __future__ import annotations

import numpy as np

from data_pipeline.synthetic.smooth_field import SmoothField


def _axes(shape: tuple[int, int, int], spacing: float) -> tuple[np.ndarray, ...]:
    return tuple(np.arange(n, dtype=np.float32) * spacing for n in shape)


def test_field_has_unit_variance_and_is_smooth() -> None:
    field = SmoothField(np.random.default_rng(0), _axes((40, 64, 64), 1.0), 4.0).slab(0, 40)
    assert field.shape == (40, 64, 64) and field.dtype == np.float32
    assert abs(float(field.mean())) < 0.3 and 0.7 < float(field.std()) < 1.3
    neighbours = np.corrcoef(field[:, :, :-1].ravel(), field[:, :, 1:].ravel())[0, 1]
    far = np.corrcoef(field[:, :, :-20].ravel(), field[:, :, 20:].ravel())[0, 1]
    assert neighbours > 0.9 and abs(far) < 0.3  # correlated over ~4 mm, not over 20 mm


def test_slabs_tile_the_whole_field() -> None:
    field = SmoothField(np.random.default_rng(1), _axes((70, 20, 24), 0.5), 3.0)
    whole = field.slab(0, 70)
    tiled = np.concatenate([field.slab(z, min(z + 16, 70)) for z in range(0, 70, 16)])
    np.testing.assert_allclose(tiled, whole, atol=1e-3)  # only the dropped 1e-4 tails differ


def test_same_generator_state_gives_the_same_field() -> None:
    axes = _axes((8, 9, 10), 1.0)
    a = SmoothField(np.random.default_rng(2), axes, 2.0).slab(0, 8)
    b = SmoothField(np.random.default_rng(2), axes, 2.0).slab(0, 8)
    c = SmoothField(np.random.default_rng(3), axes, 2.0).slab(0, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)

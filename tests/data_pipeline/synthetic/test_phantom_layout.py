"""Tests for data_pipeline/synthetic/phantom_layout.py: the per-patient draws of a head."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.synthetic.phantom_layout import Tissue, draw_intensity, draw_layout
from data_pipeline.synthetic.phantom_skull import Anatomy


def test_same_generator_state_gives_the_same_patient() -> None:
    first = draw_layout((32, 32, 32), (2.0, 1.5, 1.5), np.random.default_rng(3), Anatomy())
    again = draw_layout((32, 32, 32), (2.0, 1.5, 1.5), np.random.default_rng(3), Anatomy())
    assert first == again
    other = draw_layout((32, 32, 32), (2.0, 1.5, 1.5), np.random.default_rng(4), Anatomy())
    assert other.centre != first.centre


@pytest.mark.parametrize(("shape", "spacing"), [((32, 32, 32), (7.0, 8.0, 8.0)),
                                                ((405, 512, 512), (0.5, 0.45, 0.45))])
def test_thin_layers_keep_their_voxel_floor_and_the_head_fits(shape, spacing) -> None:
    lay = draw_layout(shape, spacing, np.random.default_rng(0), Anatomy())
    fine = max(spacing)
    assert lay.fine == fine
    assert lay.skull >= 2 * fine and lay.scalp >= 1.5 * fine and lay.csf >= 1.5 * fine
    fov = [n * d for n, d in zip(shape, spacing, strict=True)]
    assert lay.centre[0] + lay.axes[2] < fov[0]  # air above the vertex
    assert 2 * lay.axes[0] < fov[2] and 2 * lay.axes[1] < fov[1]


def test_holder_contact_closes_the_air_gap() -> None:
    free = draw_layout((48, 48, 48), (4.0, 4.0, 4.0), np.random.default_rng(1), Anatomy())
    pressed = draw_layout((48, 48, 48), (4.0, 4.0, 4.0), np.random.default_rng(1),
                          Anatomy(holder_contact=True))
    assert free.holder_gap > 0 > pressed.holder_gap
    assert pressed.holder == pytest.approx(free.holder - pressed.holder_gap)


def test_tissue_intensities_lie_in_their_clinical_ranges() -> None:
    for seed in range(5):
        inten = draw_intensity(np.random.default_rng(seed))
        lut = inten.lut
        assert lut[Tissue.AIR] == -1000.0 and 33.0 <= lut[Tissue.GREY] <= 38.0
        assert 8.0 <= lut[Tissue.GREY] - lut[Tissue.WHITE] <= 11.0
        assert lut[Tissue.VENTRICLE] == lut[Tissue.CSF] and 3.0 <= lut[Tissue.CSF] <= 8.0
        assert inten.diploe < inten.table and 4.0 <= inten.noise_sd <= 6.0

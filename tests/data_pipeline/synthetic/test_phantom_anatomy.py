"""Tests for data_pipeline/synthetic/phantom_anatomy.py: the healthy head, tissue by tissue."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from data_pipeline.synthetic.phantom_anatomy import Tissue, render_head

SPACING = (0.5, 0.45, 0.45)
HEAD = [Tissue.SCALP, Tissue.SKULL]
BRAIN = [Tissue.GREY, Tissue.WHITE, Tissue.VENTRICLE, Tissue.CSF]


@pytest.fixture(scope="module")
def head() -> tuple[np.ndarray, np.ndarray]:
    hu, tissue, _ = render_head((48, 48, 48), SPACING, np.random.default_rng(0))
    return hu, tissue


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [
        ((48, 48, 48), (0.5, 0.45, 0.45)),
        ((32, 32, 32), (0.5, 0.38, 0.38)),
        ((40, 64, 48), (0.5, 0.5, 0.5)),
        ((64, 40, 40), (0.5, 0.4, 0.4)),
    ],
)
def test_every_healthy_tissue_is_present_at_small_sizes(shape, spacing) -> None:
    hu, tissue, frame = render_head(shape, spacing, np.random.default_rng(1))
    assert hu.shape == tissue.shape == shape
    assert hu.dtype == np.int16 and tissue.dtype == np.uint8
    assert set(np.unique(tissue)) == {int(t) for t in Tissue} - {Tissue.LESION}
    assert 0 < frame.centre[2] < shape[2] * spacing[2] and frame.half_width > 0


def test_tissue_intensities_are_in_their_ranges(head) -> None:
    hu, tissue = head

    def mean(t: Tissue) -> float:
        return float(hu[tissue == t].mean())

    assert abs(mean(Tissue.AIR) + 1000) < 1.0
    assert 30 < mean(Tissue.SCALP) < 55
    assert 28 < mean(Tissue.GREY) < 42
    assert 16 < mean(Tissue.WHITE) < 32
    assert mean(Tissue.GREY) - mean(Tissue.WHITE) > 5
    assert -5 < mean(Tissue.VENTRICLE) < 12 and -5 < mean(Tissue.CSF) < 12
    assert 95 < mean(Tissue.HOLDER) < 605
    skull = hu[tissue == Tissue.SKULL]
    assert skull.min() >= 700 and skull.max() <= 1800 and skull.std() > 50  # layered bone
    assert 3.5 < float(hu[tissue == Tissue.AIR].std()) < 6.5  # the noise SD


def test_top_slices_have_a_ring_larger_than_the_brain(head) -> None:
    _, tissue = head
    ring = np.isin(tissue, HEAD).sum(axis=(1, 2))
    brain = np.isin(tissue, BRAIN).sum(axis=(1, 2))
    has_brain = np.flatnonzero(brain)
    top_half = np.arange(len(brain)) > (has_brain[0] + has_brain[-1]) / 2
    assert np.count_nonzero((ring > brain) & (brain > 0) & top_half) >= 3


def test_air_above_the_head_and_skull_base_below_the_brain(head) -> None:
    _, tissue = head
    assert not np.isin(tissue[-1], HEAD + BRAIN).any()  # air above the vertex (couch aside)
    brain_slices = np.flatnonzero(np.isin(tissue, BRAIN).any(axis=(1, 2)))
    assert brain_slices[0] >= 3  # a few slices of skull base and soft tissue below the brain
    assert (tissue[: brain_slices[0]] == Tissue.SKULL).any()
    assert (tissue[: brain_slices[0]] == Tissue.SCALP).any()


def test_holder_lies_behind_the_head_with_an_air_gap(head) -> None:
    _, tissue = head
    body = (tissue != Tissue.AIR) & (tissue != Tissue.HOLDER)
    holder = tissue == Tissue.HOLDER
    rows_body = np.flatnonzero(body.any(axis=(0, 2)))
    rows_holder = np.flatnonzero(holder.any(axis=(0, 2)))
    assert rows_holder.max() > rows_body.max()  # posterior = high rows = under a supine head
    assert not (ndimage.binary_dilation(body) & holder).any()


def test_ventricles_are_a_pair_near_the_centre(head) -> None:
    _, tissue = head
    ventricles = tissue == Tissue.VENTRICLE
    _, n = ndimage.label(ventricles.any(axis=0))  # projected onto the axial plane
    assert n == 2
    centre = np.array(ndimage.center_of_mass(ventricles))
    brain_centre = np.array(ndimage.center_of_mass(np.isin(tissue, BRAIN)))
    assert np.all(np.abs(centre - brain_centre) < 0.2 * np.array(tissue.shape))


def test_grey_matter_is_a_ribbon_around_white_matter(head) -> None:
    _, tissue = head
    white = tissue == Tissue.WHITE
    shell = ndimage.binary_dilation(white, iterations=2) & ~white
    around = tissue[shell]
    # what surrounds white matter is cortex (or ventricles inside it), not skull or CSF
    assert np.mean(np.isin(around, [Tissue.GREY, Tissue.VENTRICLE])) > 0.7

"""Tests for data_pipeline/synthetic/phantom_skull.py: open skull base, craniectomy, thin vertex
bone and holder contact, as the rendered head shows them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from data_pipeline.synthetic.phantom import make_head_phantom
from data_pipeline.synthetic.phantom_anatomy import Tissue, render_head
from data_pipeline.synthetic.phantom_skull import Anatomy

SPACING = (0.5, 0.45, 0.45)
SHAPE = (48, 48, 48)
BRAIN = [Tissue.GREY, Tissue.WHITE, Tissue.VENTRICLE, Tissue.CSF, Tissue.LESION]


def _render(seed: int, shape=SHAPE, **features: bool):
    return render_head(shape, SPACING, np.random.default_rng(seed), Anatomy(**features))


def test_names_list_the_features_for_manifests() -> None:
    assert Anatomy().names() == ["open_skull_base"]
    assert Anatomy(craniectomy=True, holder_contact=True).names() == [
        "open_skull_base",
        "craniectomy",
        "holder_contact",
    ]


def _brain_reaches_the_air(tissue: np.ndarray) -> np.ndarray:
    """Per slice: does the brain connect to the air without crossing bone?"""
    out = np.zeros(tissue.shape[0], dtype=bool)
    for z in range(tissue.shape[0]):
        labels, _ = ndimage.label(tissue[z] != Tissue.SKULL)
        brain = labels[np.isin(tissue[z], BRAIN)]
        out[z] = np.isin(brain, labels[tissue[z] == Tissue.AIR]).any()
    return out


@pytest.mark.parametrize(("seed", "shape"), [(0, SHAPE), (1, SHAPE), (2, (32, 32, 32))])
def test_every_head_has_open_rings_on_its_lowest_brain_slices(seed: int, shape) -> None:
    _, tissue, _ = _render(seed, shape)
    brain_slices = np.flatnonzero(np.isin(tissue, BRAIN).any(axis=(1, 2)))
    open_ring = _brain_reaches_the_air(tissue)
    assert open_ring[brain_slices[0]]  # the foramen magnum opens the lowest slice
    middle = brain_slices[len(brain_slices) // 2]
    assert not open_ring[middle]  # the vault is closed
    bottom = slice(0, brain_slices[0])
    assert not (np.isin(tissue[bottom], BRAIN)).any()  # no brain below the plate


@pytest.mark.parametrize("seed", [0, 1])
def test_craniectomy_removes_bone_on_one_side_and_lets_the_brain_swell(seed: int) -> None:
    hu, tissue, frame = _render(seed, craniectomy=True)
    _, intact, plain = _render(seed)
    assert frame.defect is not None and plain.defect is None
    changed = np.flatnonzero((tissue != intact).any(axis=(0, 1)))
    centre = frame.centre[2] / SPACING[2]
    assert np.all((changed - centre) * frame.defect.side > 0)  # one side only
    lost_bone = (intact == Tissue.SKULL) & (tissue != Tissue.SKULL)
    assert lost_bone.sum() > 0.08 * (intact == Tissue.SKULL).sum()  # vault, base and neck
    swollen = np.isin(tissue, BRAIN) & ~np.isin(intact, BRAIN)
    assert (swollen & lost_bone).sum() > 0.5 * lost_bone.sum()  # brain fills the defect
    assert (swollen & (intact == Tissue.SCALP)).any()  # and lifts the flap
    assert not (hu[lost_bone] >= 80).mean() > 0.01  # no bone left where it was removed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lesions_of_a_craniectomy_head_lie_beneath_the_defect(seed: int) -> None:
    anatomy = Anatomy(craniectomy=True)
    phantom = make_head_phantom(SHAPE, SPACING, np.random.default_rng(seed), anatomy=anatomy)
    _, _, frame = _render(seed, craniectomy=True)
    assert frame.defect is not None
    z, y, x = (np.nonzero(phantom.lesion)[i] * SPACING[i] for i in range(3))
    dz, dy, dx = z - frame.centre[0], y - frame.centre[1], x - frame.centre[2]
    assert np.mean(dx) * frame.defect.side > 0  # centred on the defect's side
    assert np.mean(dx * frame.defect.side > 0) > 0.8  # large infarcts may cross the midline
    assert np.mean(frame.defect.q(dz, dy) < 1) > 0.9


def test_features_change_nothing_else_about_the_head() -> None:
    hu, tissue, _ = _render(3)
    hu_thin, tissue_thin, _ = _render(3, thin_vertex=True)
    np.testing.assert_array_equal(tissue, tissue_thin)
    differs = hu != hu_thin
    assert differs.any() and (tissue[differs] == Tissue.SKULL).all()
    _, tissue_held, _ = _render(3, holder_contact=True)
    differs = tissue != tissue_held
    assert set(np.unique(tissue[differs])) | set(np.unique(tissue_held[differs])) <= {
        Tissue.AIR,
        Tissue.HOLDER,
    }


def test_thin_vertex_bone_falls_below_the_bone_threshold_over_the_top_brain_slices() -> None:
    hu, tissue, _ = _render(0, thin_vertex=True)
    skull = tissue == Tissue.SKULL
    top_brain = int(np.flatnonzero(np.isin(tissue, BRAIN).any(axis=(1, 2)))[-1])
    faint = [z for z in range(tissue.shape[0]) if skull[z].any() and hu[z][skull[z]].max() < 90]
    assert top_brain in faint and len(faint) >= 2
    assert np.median(hu[skull]) > 700  # the rest of the vault stays dense
    assert (hu[top_brain][skull[top_brain]] < 80).mean() > 0.9


def test_holder_touches_the_scalp_only_when_pressed() -> None:
    for pressed in (False, True):
        _, tissue, _ = _render(0, holder_contact=pressed)
        touching = ndimage.binary_dilation(tissue == Tissue.HOLDER) & (tissue == Tissue.SCALP)
        assert touching.any() == pressed
        grown = ndimage.binary_dilation(tissue == Tissue.HOLDER)
        assert not (grown & (tissue == Tissue.SKULL)).any()  # never bone on bone

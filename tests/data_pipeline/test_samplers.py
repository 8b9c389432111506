"""Tests for data_pipeline/samplers.py: patch centres, shapes, padding, seeds, augmentations."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
import torch

from data_pipeline.augmentations import AUGMENTATIONS
from data_pipeline.parts import ParamsError, UnknownNameError
from data_pipeline.preprocess import (
    FINAL_STEPS,
    NO_PREPROCESSING_STEPS,
    PreprocessedCase,
    preprocess,
)
from data_pipeline.samplers import SAMPLERS, lesion_class_counts, make_patch_loader, sampling_map
from data_pipeline.synthetic.phantom import make_head_phantom

PATCH = (16, 16, 16)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _case(seed: int, steps=FINAL_STEPS, shape=(48, 48, 48)) -> PreprocessedCase:
    phantom = make_head_phantom(shape, (0.5, 0.45, 0.45), np.random.default_rng(seed),
                                lesion_count=1)
    return preprocess(phantom.hu, phantom.lesion, steps)


@pytest.fixture(scope="module")
def cases() -> list[PreprocessedCase]:
    return [_case(seed) for seed in range(3)]


def _loader(cases, sampler="label", batch_size=4, seed=0, **params):
    settings = {"patch_size": PATCH, "patches_per_patient": 8, "queue_length": 24, **params}
    return make_patch_loader(cases, SAMPLERS.spec(sampler, settings), batch_size=batch_size,
                             seed=seed)


def _centres(batch: dict[str, torch.Tensor]) -> np.ndarray:
    return batch["location"][:, :3].numpy() + np.array(PATCH) // 2


def test_label_sampler_centres_half_in_lesion_never_in_background(cases) -> None:
    """Issue 5: 50 % +- 5 % of 2,000 centres in the lesion, none in the background."""
    case = cases[0]
    assert all(n >= p for n, p in zip(case.image.shape, PATCH, strict=True))  # no padding
    loader = _loader([case], patches_per_patient=250, batch_size=8, queue_length=250)
    centres = np.concatenate([_centres(batch) for batch in islice(loader, 250)])
    labels = sampling_map(case)[tuple(centres.T)]
    assert labels.size == 2000
    assert not np.any(labels == 0)
    assert abs(np.mean(labels == 2) - 0.5) <= 0.05
    assert len({tuple(c) for c in centres}) > 200  # spread, not one voxel drawn again


def test_uniform_sampler_batches_have_the_promised_shapes(cases) -> None:
    batch = next(_loader(cases, sampler="uniform"))
    assert batch["image"].shape == batch["lesion"].shape == (4, 1, *PATCH)
    assert batch["image"].dtype == batch["lesion"].dtype == torch.float32
    assert 0.0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1.0
    assert set(torch.unique(batch["lesion"]).tolist()) <= {0.0, 1.0}
    assert batch["location"].shape == (4, 6)


def test_batches_go_on_across_epochs(cases) -> None:
    loader = _loader(cases, sampler="uniform", patches_per_patient=2, batch_size=4,
                     queue_length=6)
    batches = list(islice(loader, 7))  # an epoch is 6 patches: 1.5 batches
    assert all(b["image"].shape[0] == 4 for b in batches)


def test_same_seed_same_patches_and_the_global_generator_is_untouched(cases) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = [b["location"] for b in islice(_loader(cases, seed=5), 6)]
    assert torch.equal(torch.get_rng_state(), before)
    again = [b["location"] for b in islice(_loader(cases, seed=5), 6)]
    other = [b["location"] for b in islice(_loader(cases, seed=6), 6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_cases_smaller_than_the_patch_are_padded() -> None:
    small = _case(0)
    patch = tuple(n + 3 for n in small.image.shape)
    batch = next(_loader([small], patch_size=patch, patches_per_patient=2, batch_size=2,
                         queue_length=2))
    assert batch["image"].shape == (2, 1, *patch)
    assert float(batch["lesion"].sum()) == 2 * float(small.lesion.sum())  # whole case inside


def test_without_skull_removal_healthy_means_every_non_lesion_voxel() -> None:
    case = _case(1, NO_PREPROCESSING_STEPS, shape=(32, 32, 32))
    labels = sampling_map(case)
    assert set(np.unique(labels)) == {1, 2}
    assert next(_loader([case], patches_per_patient=4))["image"].shape == (4, 1, *PATCH)


@pytest.mark.filterwarnings("ignore:The maximum displacement")  # elastic on a 30^3 crop
@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_augmentation_runs_and_keeps_shapes(cases, name: str) -> None:
    batch = next(_loader(cases[:1], augmentations=[name], patches_per_patient=4))
    assert batch["image"].shape == (4, 1, *PATCH)
    assert set(torch.unique(batch["lesion"]).tolist()) <= {0.0, 1.0}


def test_augmentation_params_and_workers(cases) -> None:
    loader = _loader(cases[:2], augmentations=[{"flip": {"flip_probability": 1.0}}],
                     num_workers=1, patches_per_patient=2, queue_length=4)
    assert next(loader)["image"].shape == (4, 1, *PATCH)


@pytest.mark.parametrize(
    ("sampler", "params", "error", "fragment"),
    [
        ("lable", {}, UnknownNameError, "Did you mean .label."),
        ("label", {"augmentations": ["rotate"]}, ParamsError, "unknown augmentation"),
        ("label", {"patch_size": (16, 16)}, ParamsError, "patch_size"),
        ("label", {"queue_length": 0}, ParamsError, "queue_length"),
        ("label", {"label_probabilities": {3: 1.0}}, ParamsError, "labels are 0"),
        ("uniform", {"label_probabilities": {1: 1.0}}, ParamsError, "unknown parameter"),
    ],
)
def test_bad_settings_are_refused_naming_the_sampler(cases, sampler, params, error,
                                                     fragment) -> None:
    with pytest.raises(error, match=fragment):
        SAMPLERS.spec(sampler, params)


def test_an_epoch_smaller_than_a_batch_is_refused(cases) -> None:
    with pytest.raises(ValueError, match="fewer than one batch"):
        _loader(cases[:1], patches_per_patient=1, batch_size=8)


def test_registries_list_the_paper_choices() -> None:
    assert SAMPLERS.names() == ["label", "uniform"]
    assert AUGMENTATIONS.names() == ["affine", "elastic", "flip", "gamma"]


def test_class_counts_add_up_over_the_cropped_volumes(cases) -> None:
    n0, n1 = lesion_class_counts(cases)
    assert n1 == sum(int(c.lesion.sum()) for c in cases) > 0
    assert n0 + n1 == sum(c.lesion.size for c in cases)
    assert lesion_class_counts(cases[:1]) != (n0, n1)

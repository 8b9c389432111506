"""Tests for platform/inference/sliding_window.py: tiled prediction equals TorchIO's grid
sampler/aggregator."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torchio as tio
from torch import nn

from platform.inference.sliding_window import INFERENCE, Tiling, binarize, predict_volume
from platform.inference.tiles import count_patches, patch_locations, patch_overlap_voxels


@pytest.fixture(autouse=True)
def _one_thread_fixed_seed(one_torch_thread: None) -> None:
    torch.manual_seed(0)


class LogitIdentity(nn.Module):
    """Returns logit(x), so that sigmoid(output) reproduces an input in (0, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(x, eps=1e-6)


def context_net(norm: nn.Module | None = None) -> nn.Module:
    """A small conv net whose output depends on the patch (zero padding, instance norm)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.InstanceNorm3d(4) if norm is None else norm,
        nn.LeakyReLU(0.1),
        nn.Conv3d(4, 1, 3, padding=1),
    )


def affine_norm() -> nn.Module:
    norm = nn.InstanceNorm3d(4, affine=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1.0, 1.0)
    return norm


def running_stats_norm() -> nn.Module:
    norm = nn.InstanceNorm3d(4, track_running_stats=True)
    norm.running_mean.fill_(0.3)
    norm.running_var.fill_(2.0)
    return norm


def torchio_reference(
    model: nn.Module, image: np.ndarray, patch: tuple, overlap: float
) -> np.ndarray:
    """Sigmoid probabilities from TorchIO's GridSampler + GridAggregator(average)."""
    subject = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(image)[None]))
    sampler = tio.GridSampler(subject, patch, patch_overlap_voxels(patch, overlap))
    aggregator = tio.GridAggregator(sampler, overlap_mode="average")
    model.eval()
    with torch.no_grad():
        for batch in tio.SubjectsLoader(sampler, batch_size=3):
            logits = model(batch["image"][tio.DATA])
            aggregator.add_batch(torch.sigmoid(logits), batch[tio.LOCATION])
    return aggregator.get_output_tensor()[0].numpy()


def ellipsoid(
    shape: tuple[int, int, int], radii: tuple[float, float, float], centre: tuple
) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    dist = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))
    return (dist <= 1).astype(np.uint8)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("shape", "patch", "overlap"),
    [
        ((23, 31, 17), (8, 12, 6), 0.25),
        ((20, 20, 20), (10, 10, 10), 0.5),
        ((25, 18, 29), (12, 8, 10), 0.75),
    ],
)
def test_identity_network_reproduces_its_input(shape, patch, overlap) -> None:
    image = RNG.uniform(0.01, 0.99, size=shape).astype(np.float32)
    prob = predict_volume(LogitIdentity(), image,
                          Tiling(patch_size=patch, overlap=overlap, batch_size=4))
    assert prob.dtype == np.float32 and prob.shape == shape
    np.testing.assert_allclose(prob, image, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "patch", "overlap", "batch_size"),
    [
        ((23, 31, 17), (8, 12, 6), 0.25, 1),
        ((21, 19, 26), (10, 8, 12), 0.5, 3),
        ((25, 18, 29), (12, 8, 10), 0.75, 5),
    ],
)
def test_equals_torchio_grid_aggregator(shape, patch, overlap, batch_size) -> None:
    image = RNG.uniform(0, 1, size=shape).astype(np.float32)
    model = context_net()
    ours = predict_volume(model, image,
                          Tiling(patch_size=patch, overlap=overlap, batch_size=batch_size))
    reference = torchio_reference(model, image, patch, overlap)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # The context matters: a single whole-volume pass differs, so the tiling is really tested.
    with torch.no_grad():
        whole = torch.sigmoid(model(torch.from_numpy(image)[None, None]))[0, 0].numpy()
    assert np.abs(whole - reference).max() > 1e-3


@pytest.mark.parametrize("norm", [affine_norm, running_stats_norm])
def test_batched_cpu_path_equals_torchio_for_other_norms(norm) -> None:
    shape, patch, overlap = (20, 17, 22), (8, 8, 10), 0.5
    image = RNG.uniform(0, 1, size=shape).astype(np.float32)
    model = context_net(norm())
    ours = predict_volume(model, image, Tiling(patch_size=patch, overlap=overlap, batch_size=2))
    np.testing.assert_allclose(ours, torchio_reference(model, image, patch, overlap), atol=1e-5)


def test_caller_model_keeps_its_layers_and_layout_on_cpu() -> None:
    model = context_net()
    predict_volume(model, np.zeros((8, 8, 8), np.float32),
                   Tiling(patch_size=(8, 8, 8), overlap=0.0, batch_size=2))
    assert type(model[1]) is nn.InstanceNorm3d
    assert model[0].weight.is_contiguous()


def test_brain_skipping_zero_outside_equal_inside() -> None:
    shape, patch, overlap = (24, 30, 28), (8, 10, 8), 0.25
    image = RNG.uniform(0, 1, size=shape).astype(np.float32)
    brain = ellipsoid(shape, (6, 7, 6), (7, 8, 8))
    model = context_net()
    ours = predict_volume(model, image, Tiling(patch_size=patch, overlap=overlap), brain=brain)
    reference = torchio_reference(model, image, patch, overlap)
    ran = patch_locations(shape, patch, overlap, brain)
    all_corners = patch_locations(shape, patch, overlap)
    assert 0 < len(ran) < len(all_corners) == count_patches(shape, patch, overlap)
    assert count_patches(shape, patch, overlap, brain) == len(ran)
    covered = np.zeros(shape, dtype=bool)
    for z, y, x in ran:
        covered[z : z + patch[0], y : y + patch[1], x : x + patch[2]] = True
    skipped_only = np.zeros(shape, dtype=bool)
    for z, y, x in set(all_corners) - set(ran):
        skipped_only[z : z + patch[0], y : y + patch[1], x : x + patch[2]] = True
    skipped_only &= ~covered
    inside = brain.astype(bool)
    assert skipped_only.any() and np.all(ours[~covered] == 0)
    np.testing.assert_allclose(ours[inside], reference[inside], atol=1e-5)


def test_brain_everywhere_equals_no_brain() -> None:
    shape, patch = (14, 16, 12), (8, 8, 8)
    image = RNG.uniform(0, 1, size=shape).astype(np.float32)
    model = context_net()
    full = predict_volume(model, image, Tiling(patch_size=patch, overlap=0.5))
    masked = predict_volume(model, image, Tiling(patch_size=patch, overlap=0.5),
                            brain=np.ones(shape, dtype=bool))
    np.testing.assert_array_equal(full, masked)


def test_volume_smaller_than_patch_is_padded_and_cropped_back() -> None:
    shape, patch, overlap = (9, 20, 7), (12, 12, 12), 0.25
    image = RNG.uniform(0.01, 0.99, size=shape).astype(np.float32)
    prob = predict_volume(LogitIdentity(), image, Tiling(patch_size=patch, overlap=overlap))
    assert prob.shape == shape and prob.flags.c_contiguous
    np.testing.assert_allclose(prob, image, atol=1e-5)
    # Against TorchIO on the same volume zero-padded symmetrically (z by 1 + 2, x by 2 + 3).
    model = context_net()
    ours = predict_volume(model, image, Tiling(patch_size=patch, overlap=overlap))
    pads = [(1, 2), (0, 0), (2, 3)]
    reference = torchio_reference(model, np.pad(image, pads), patch, overlap)
    np.testing.assert_allclose(ours, reference[1:-2, :, 2:-3], atol=1e-5)


def test_model_training_flag_is_restored() -> None:
    model = context_net().train()
    predict_volume(model, np.zeros((8, 8, 8), np.float32),
                   Tiling(patch_size=(8, 8, 8), overlap=0.25))
    assert model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"overlap": 1.0}, ValueError, "overlap must be a fraction"),
        ({"patch_size": (8, 8)}, ValueError, "three positive voxel counts"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"brain": np.ones((4, 4, 4))}, ValueError, "brain mask shape"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match) -> None:
    arguments = {"patch_size": (8, 8, 8), "overlap": 0.25, **kwargs}
    brain = arguments.pop("brain", None)
    with pytest.raises(error, match=match):
        predict_volume(LogitIdentity(), np.zeros((10, 10, 10), np.float32), Tiling(**arguments),
                       brain=brain)


def test_model_with_wrong_output_shape_is_rejected() -> None:
    model = nn.Conv3d(1, 2, 1)
    with pytest.raises(ValueError, match="one channel of logits"):
        predict_volume(model, np.zeros((8, 8, 8), np.float32),
                       Tiling(patch_size=(8, 8, 8), overlap=0.0))


def test_binarize_thresholds_at_the_given_value() -> None:
    prob = np.array([[[0.2, 0.5], [0.7, 0.49]]], dtype=np.float32)
    np.testing.assert_array_equal(binarize(prob, 0.5), [[[0, 1], [1, 0]]])
    np.testing.assert_array_equal(binarize(prob, 0.6), [[[0, 0], [1, 0]]])
    assert binarize(prob, 0.5).dtype == np.uint8


@pytest.mark.parametrize(
    ("params", "called_with"),
    [
        ({}, {"overlap": 0.25, "batch_size": 1, "brain": "mask"}),
        ({"overlap": 0.5}, {"overlap": 0.5, "batch_size": 1, "brain": "mask"}),
        ({"batch_size": 2}, {"overlap": 0.25, "batch_size": 2, "brain": "mask"}),
        ({"skip_outside_brain": False}, {"overlap": 0.25, "batch_size": 1, "brain": None}),
        ({"mirror_axes": [1]}, {"overlap": 0.25, "batch_size": 1, "brain": "mask",
                                "mirror_axes": (1,)}),
        ({"blending": "gaussian"}, {"overlap": 0.25, "batch_size": 1, "brain": "mask",
                                    "blending": "gaussian"}),
        ({"sigma_scale": 0.25}, {"overlap": 0.25, "batch_size": 1, "brain": "mask",
                                 "sigma_scale": 0.25}),
    ],
)
def test_every_sliding_window_parameter_reaches_predict_volume(
    monkeypatch: pytest.MonkeyPatch, params: dict, called_with: dict
) -> None:
    import platform.inference.sliding_window as inference

    seen: dict = {}

    defaults = {"mirror_axes": (), "blending": "average", "sigma_scale": 0.125}

    def spy(model, image, tiling, *, device, amp, brain):  # noqa: ANN001
        seen.update(overlap=tiling.overlap, batch_size=tiling.batch_size,
                    brain=None if brain is None else "mask")
        options = {"mirror_axes": tiling.mirror_axes, "blending": tiling.blending,
                   "sigma_scale": tiling.sigma_scale}
        seen.update({k: v for k, v in options.items() if v != defaults[k]})
        return np.zeros(image.shape, np.float32)

    monkeypatch.setattr(inference, "predict_volume", spy)
    sliding = INFERENCE.create(INFERENCE.spec("sliding_window", params))
    image, brain = np.zeros((8, 8, 8), np.float32), np.ones((8, 8, 8), bool)
    sliding(nn.Identity(), image, patch_size=(8, 8, 8), device=torch.device("cpu"), amp=False,
            brain=brain)
    assert seen == called_with
    assert sliding.count((16, 8, 8), (8, 8, 8), brain=np.zeros((16, 8, 8), bool)) == (
        len(patch_locations((16, 8, 8), (8, 8, 8), sliding.params.overlap)) if
        not sliding.params.skip_outside_brain else 0)


def test_read_only_image_is_accepted_without_a_warning() -> None:
    image = RNG.uniform(0.01, 0.99, size=(12, 10, 14)).astype(np.float32)
    image.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prob = predict_volume(LogitIdentity(), image, Tiling(patch_size=(8, 8, 8), overlap=0.25))
    np.testing.assert_allclose(prob, image, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_path_equals_the_cpu_path(amp: bool) -> None:
    shape, patch, overlap = (40, 36, 44), (16, 16, 16), 0.5
    image = RNG.uniform(0, 1, size=shape).astype(np.float32)
    brain = ellipsoid(shape, (15, 14, 18), (20, 18, 22))
    model = context_net(affine_norm())
    on_cpu = predict_volume(copy.deepcopy(model), image,
                            Tiling(patch_size=patch, overlap=overlap, batch_size=3),
                            brain=brain)
    on_gpu = predict_volume(model, image, Tiling(patch_size=patch, overlap=overlap, batch_size=3),
                            device="cuda", amp=amp, brain=brain)
    assert on_gpu.dtype == np.float32 and on_gpu.shape == shape
    # float32 convolutions may use TF32 on the GPU; amp runs them in bf16 or fp16
    np.testing.assert_allclose(on_gpu, on_cpu, atol=5e-2 if amp else 5e-3)
    np.testing.assert_array_equal(on_gpu == 0, on_cpu == 0)  # the same patches were skipped


def test_mixed_precision_changes_nothing_on_a_cpu() -> None:
    """``train.amp`` is one of ``TrialConfig.cpu_inert``: Table 1 calls rows that differ only
    in it identical on a CPU (``platform/report/same_rows.py``), so inference must agree
    to the bit."""
    image = RNG.uniform(0, 1, size=(20, 24, 28)).astype(np.float32)
    tiling = Tiling(patch_size=(16, 16, 16), overlap=0.25, batch_size=2)
    model = context_net(affine_norm())
    plain = predict_volume(model, image, tiling, amp=False)
    np.testing.assert_array_equal(predict_volume(model, image, tiling, amp=True), plain)

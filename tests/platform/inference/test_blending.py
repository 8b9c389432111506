"""Test-time mirroring and Gaussian blending (``platform/inference/blending.py``, issue 14).

Gaussian blending is checked against MONAI's ``sliding_window_inference(mode="gaussian")``
on the same patch grid; mirroring against a hand-made average of flipped predictions, and
against a mirror-symmetric network, for which it must change nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_pipeline.parts.registry import registry
from platform.inference.blending import gaussian_weights, mirror_combinations
from platform.inference.sliding_window import Tiling, predict_volume

PATCH = (16, 16, 16)


def _network(symmetric: bool) -> torch.nn.Module:
    """One 3x3x3 convolution; with ``symmetric`` its kernel is unchanged by any flip."""
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(1, 1, 3, padding=1)
    with torch.no_grad():
        if symmetric:
            kernel = conv.weight[0, 0]
            for axis in range(3):
                kernel = kernel + kernel.flip(axis)
            conv.weight[0, 0] = kernel / 8
        conv.bias.fill_(-0.3)
    return conv


def _image(shape: tuple[int, int, int] = (28, 40, 36)) -> np.ndarray:
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def test_gaussian_blending_equals_monai() -> None:
    inferers = pytest.importorskip("monai.inferers")
    model, image = _network(symmetric=False), _image()
    gaussian = Tiling(patch_size=PATCH, overlap=0.25, blending="gaussian", sigma_scale=0.125)
    ours = predict_volume(model, image, gaussian)
    with torch.no_grad():
        theirs = inferers.sliding_window_inference(
            torch.from_numpy(image)[None, None], PATCH, 1,
            lambda x: torch.sigmoid(model(x)), overlap=0.25, mode="gaussian",
            sigma_scale=0.125)[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    plain = predict_volume(model, image, Tiling(patch_size=PATCH, overlap=0.25))
    assert np.abs(plain - ours).max() > 1e-3  # the weights do change overlapping voxels


def test_gaussian_weights_peak_in_the_centre_and_keep_a_floor() -> None:
    weights = gaussian_weights((9, 16, 16), 0.125)
    assert weights.shape == (9, 16, 16)
    assert weights[4, 7, 7] == weights.max() and weights.min() == pytest.approx(1e-3)


def test_mirroring_a_mirror_symmetric_network_changes_nothing() -> None:
    model, image = _network(symmetric=True), _image()
    plain = predict_volume(model, image, Tiling(patch_size=PATCH, overlap=0.25))
    mirrored = predict_volume(model, image,
                              Tiling(patch_size=PATCH, overlap=0.25, mirror_axes=(0, 1, 2)))
    np.testing.assert_allclose(mirrored, plain, atol=1e-6)


def test_mirroring_averages_the_flipped_predictions() -> None:
    model, image = _network(symmetric=False), _image((16, 16, 16))
    mirrored = predict_volume(model, image,
                              Tiling(patch_size=PATCH, overlap=0.25, mirror_axes=(0, 2)))
    expected = np.zeros_like(image)
    for axes in ((), (0,), (2,), (0, 2)):
        flipped = np.flip(image, axes).copy() if axes else image
        plain_tiling = Tiling(patch_size=PATCH, overlap=0.25)
        expected += np.flip(predict_volume(model, flipped, plain_tiling),
                            axes) if axes else predict_volume(model, image, plain_tiling)
    np.testing.assert_allclose(mirrored, expected / 4, atol=1e-6)
    plain = predict_volume(model, image, Tiling(patch_size=PATCH, overlap=0.25))
    assert np.abs(plain - mirrored).max() > 1e-3  # this network is not symmetric


def test_mirror_combinations_are_every_subset_once() -> None:
    assert mirror_combinations((2, 0, 2)) == [(), (0,), (2,), (0, 2)]
    assert len(mirror_combinations((0, 1, 2))) == 8


def test_options_are_off_by_default_and_validated() -> None:
    import platform.inference.sliding_window  # noqa: F401 -- registers the inference part

    parts = registry("inference")
    params = parts.defaults("sliding_window")
    assert (params.mirror_axes, params.blending) == ((), "average")
    assert parts.spec("sliding_window", {"mirror_axes": [2, 0]}).params.mirror_axes == (0, 2)
    for bad in ({"mirror_axes": [0, 0]}, {"mirror_axes": [3]}, {"blending": "hann"}):
        with pytest.raises(ValueError):
            parts.spec("sliding_window", bad)

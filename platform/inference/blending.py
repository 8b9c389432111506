"""Test-time mirroring and Gaussian patch weights: the two inference options nnU-Net uses.

Why apart from :mod:`platform.inference.sliding_window`: the tiling (where patches go,
which run) is the
paper's and stays there; these are two optional ways of combining predictions, each an
ablation switch that is off by default (the paper averages plain predictions, unflipped):

- **Mirroring** (nnU-Net's test-time augmentation, Isensee et al. 2021,
  doi:10.1038/s41592-020-01008-z): each patch is also predicted flipped along every
  combination of the chosen axes, each prediction flipped back, and the probabilities
  averaged (2^k forward passes for k axes). nnU-Net averages logits before its softmax;
  here probabilities are averaged, as the overlapping patches are. A network that is
  itself mirror-symmetric gives the same result with and without it.
- **Gaussian blending** (nnU-Net, MONAI ``sliding_window_inference(mode="gaussian")``):
  overlapping patch predictions are averaged with weights that fall off towards a
  patch's border, where its field of view is cut::

      w(z, y, x) = g_D(z) * g_H(y) * g_W(x),   g_n(i) = exp(-(i - (n - 1) / 2)^2 / (2 s^2)),
      s = sigma_scale * n, and w clamped below at 1e-3 (MONAI's compute_importance_map)

  so that ``sum(w * p) / sum(w)`` equals MONAI's result for the same patch grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

__all__ = ["MIN_WEIGHT", "gaussian_weights", "mirror_combinations", "mirrored_probabilities"]

MIN_WEIGHT = 1e-3
"""Lowest Gaussian weight (MONAI's floor), so that corner voxels still count."""


def gaussian_weights(patch_size: Sequence[int], sigma_scale: float, *,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """The Gaussian importance map of one patch ``(D, H, W)`` (float32; see module docstring).

    Args:
        patch_size: patch shape in voxels.
        sigma_scale: the Gaussian's sigma as a fraction of the patch edge (1/8 in nnU-Net
            and MONAI).
    """
    if sigma_scale <= 0:
        raise ValueError(f"sigma_scale must be positive, got {sigma_scale}")
    weights: torch.Tensor | None = None
    for axis, size in enumerate(patch_size):
        centred = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
        profile = torch.exp(centred**2 / (-2.0 * (sigma_scale * size) ** 2))
        shape = [1, 1, 1]
        shape[axis] = size
        profile = profile.reshape(shape)
        weights = profile if weights is None else weights * profile
    assert weights is not None  # three axes
    return weights.clamp_(min=MIN_WEIGHT)


def mirror_combinations(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every combination of the flip axes, the empty one (no flip) first.

    Example:
        >>> mirror_combinations((0, 2))
        [(), (0,), (2,), (0, 2)]
    """
    unique = sorted(set(axes))
    return [combo for k in range(len(unique) + 1) for combo in itertools.combinations(unique, k)]


def mirrored_probabilities(model: torch.nn.Module, batch: torch.Tensor,
                           axes: Sequence[int]) -> torch.Tensor:
    """Mean sigmoid probability over the mirror combinations of ``axes``.

    Args:
        model: maps ``(B, 1, D, H, W)`` to one channel of logits of the same shape.
        batch: ``(B, 1, D, H, W)`` patches.
        axes: spatial axes to flip, ``0`` = D (slices), ``1`` = H, ``2`` = W.

    Returns:
        ``(B, D, H, W)`` float32 probabilities.

    Raises:
        ValueError: the model's output is not one channel shaped like its input.
    """
    expected = (batch.shape[0], 1, *batch.shape[2:])
    total: torch.Tensor | None = None
    combos = mirror_combinations(axes)
    for combo in combos:
        dims = [2 + axis for axis in combo]
        logits = model(batch.flip(dims) if dims else batch)
        if tuple(logits.shape) != expected:
            raise ValueError(f"the model must return one channel of logits shaped like its "
                             f"input {expected}, got {tuple(logits.shape)}")
        probability = torch.sigmoid(logits.float())
        probability = probability.flip(dims) if dims else probability
        total = probability if total is None else total.add_(probability)
    assert total is not None  # at least the unflipped pass
    return total[:, 0] / len(combos) if len(combos) > 1 else total[:, 0]

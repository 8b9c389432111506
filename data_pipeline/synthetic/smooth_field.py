"""Smooth Gaussian random fields on large 3-D grids, evaluated slab by slab.

Why its own module: the synthetic phantom needs several low-frequency fields (skull
thickness, cortex ribbon, beam-hardening shading, lesion outlines) on volumes of 10^8
voxels. A separable construction keeps each evaluation to a few matrix products and never
builds a full-volume float array, where ``scipy.ndimage.gaussian_filter`` on white noise
would need the whole noise volume and several passes over it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SmoothField"]

_FLOAT = np.float32


class SmoothField:
    """Unit-variance smooth Gaussian random field with correlation length ``length_mm``.

    A lattice of random coefficients (spacing ``length_mm``) blurred by separable Gaussian
    weights. Contracting x and y once leaves ``(nodes_z, Y, X)``, and each slab is one
    matrix product, so no full-volume float array is ever built.

    Args:
        rng: draws the lattice coefficients (all of them, in the constructor).
        axes_mm: 1-D coordinates in mm of the grid's ``(z, y, x)`` axes, increasing.
        length_mm: lattice spacing and Gaussian width: features are about this size.
    """

    def __init__(
        self, rng: np.random.Generator, axes_mm: tuple[np.ndarray, ...], length_mm: float
    ) -> None:
        wz, wy, wx = (_lattice_weights(a, length_mm) for a in axes_mm)
        coeffs = rng.standard_normal((wz.shape[1], wy.shape[1], wx.shape[1]), dtype=_FLOAT)
        partial = np.tensordot(coeffs, wx, axes=([2], [1]))  # (nz, ny, X)
        self._partial = np.ascontiguousarray(np.einsum("yj,ijx->iyx", wy, partial))
        self._wz = wz

    def slab(self, z0: int, z1: int) -> np.ndarray:
        """The field on slices ``z0:z1`` as ``(z1 - z0, Y, X)`` float32.

        Only lattice planes with a weight above 1e-4 take part (the Gaussian's tails),
        which makes a fine field several times cheaper on a thin slab.
        """
        weights = self._wz[z0:z1]
        used = np.flatnonzero(weights.max(axis=0) > 1e-4)
        planes = slice(used[0], used[-1] + 1)
        return np.tensordot(weights[:, planes], self._partial[planes], axes=1)


def _lattice_weights(coords: np.ndarray, length: float) -> np.ndarray:
    """Gaussian weights from points to lattice nodes, rows scaled to unit variance."""
    nodes = np.arange(coords[0] - 2 * length, coords[-1] + 2 * length + length, length)
    w = np.exp(-0.5 * ((coords[:, None] - nodes[None, :]) / length) ** 2).astype(_FLOAT)
    return w / np.sqrt((w * w).sum(axis=1, keepdims=True))

"""Voxel-grid geometry shared by the DICOM reader, the mask readers and the writers.

Arrays in this project are ``(Z, Y, X)``; SimpleITK images are indexed ``(x, y, z)``.
This module owns the conversion so that no other module has to remember it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK (about 0.3 s) is imported by the readers that need it
    import SimpleITK as sitk

__all__ = ["Geometry"]


@dataclass(frozen=True)
class Geometry:
    """Where a ``(Z, Y, X)`` array lies in patient space (DICOM LPS, millimetres).

    Attributes:
        spacing: voxel size ``(z, y, x)`` in mm (z = distance between slice centres).
        origin: ``(x, y, z)`` LPS position of voxel ``(0, 0, 0)`` in mm.
        direction: 3x3 direction cosines, row-major, SimpleITK convention
            (column ``i`` is the LPS direction of image axis ``i`` = x, y, z).
    """

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def to_sitk(self, image: sitk.Image) -> sitk.Image:
        """Stamp this geometry on a SimpleITK image made from a ``(Z, Y, X)`` array."""
        z, y, x = self.spacing
        image.SetSpacing((float(x), float(y), float(z)))
        image.SetOrigin(tuple(float(v) for v in self.origin))
        image.SetDirection(tuple(float(v) for v in self.direction))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Geometry:
        """Read the geometry of a SimpleITK image whose array is ``(Z, Y, X)``."""
        x, y, z = image.GetSpacing()
        ox, oy, oz = image.GetOrigin()
        return cls(
            spacing=(float(z), float(y), float(x)),
            origin=(float(ox), float(oy), float(oz)),
            direction=tuple(float(v) for v in image.GetDirection()),
        )

    def mismatch(
        self, other: Geometry, *, atol_mm: float = 1e-3, atol_cos: float = 1e-4
    ) -> str | None:
        """Say how ``other`` differs from this geometry, or ``None`` if they agree."""
        problems = []
        if not np.allclose(self.spacing, other.spacing, atol=atol_mm):
            problems.append(f"spacing {self.spacing} vs {other.spacing} mm")
        if not np.allclose(self.origin, other.origin, atol=max(atol_mm, 1e-2)):
            problems.append(f"origin {self.origin} vs {other.origin} mm")
        if not np.allclose(self.direction, other.direction, atol=atol_cos):
            problems.append(f"direction {self.direction} vs {other.direction}")
        return "; ".join(problems) or None

"""What every MONAI network part shares: the fixed arguments, layer specs and the size rule.

Why: a baseline row must differ from ours only in the network (issue 24), so each MONAI
network is built with the platform's contract (one CT channel in, one channel of lesion
logits out, 3D) and trains through our loop, sampler, losses, AMP and tiled inference.
Those arguments are therefore not parameters of the parts; the rest are, with MONAI
1.6.1's own defaults (``tests/models/monai_nets`` compares every params model with its
network's constructor signature, so a MONAI upgrade that changes one fails there).

A network that needs the patch size (UNETR's ``img_size``, DynUNet's strides) gets the
sampler's, and every part states which patch sizes it can take
(:meth:`MonaiNetParams.build_problem`): the sweep's config check asks before Ray starts
(``platform/config/trial.py``) and the builder asks again, so a part never runs on a size
it cannot take. Tiled inference feeds patches of exactly that size (the volume is padded
up to it), so what trained is what predicts.

MONAI is imported when a network is built, not when ``models`` is (its import costs
seconds that a U-Net trial or ``python -m models list`` does not need), and is optional:
``pip install -e '.[monai]'``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator

from data_pipeline.parts import Params, as_tuple

__all__ = [
    "FIXED",
    "INSTALL",
    "LayerSpec",
    "MonaiNetParams",
    "Triplet",
    "edges_divisible",
    "monai_nets",
    "need_patch_size",
    "network_classes",
]

Triplet = tuple[int, int, int]
"""A patch size ``(D, H, W)`` in voxels."""

FIXED: dict[str, Any] = {"spatial_dims": 3, "in_channels": 1, "out_channels": 1}
"""Constructor arguments the platform fixes for every MONAI network: 3D, one CT channel
in, one channel of lesion logits out (the sigmoid lives in the loss and at inference)."""

INSTALL = "pip install -e '.[monai]'"
"""What installs MONAI beside this package (the extra pins the version the parts match)."""

LayerSpec = Annotated[str | tuple[str, dict[str, bool | int | float | str]],
                      BeforeValidator(as_tuple)]
"""A MONAI layer choice: a name (``instance``) or ``[name, {args}]`` (``[group,
{num_groups: 8}]``), as MONAI's layer factories take it (names in any case)."""


def monai_nets() -> ModuleType:
    """``monai.networks.nets``, imported now.

    Raises:
        ModuleNotFoundError: MONAI is not installed; names the install command.
    """
    try:
        return importlib.import_module("monai.networks.nets")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"The MONAI network parts need MONAI, which is not installed: {INSTALL}") from err


def network_classes(params: MonaiNetParams, patch_size: Triplet | None,
                    name: str) -> ModuleType:
    """``monai.networks.nets``, once ``params`` are known to build for ``patch_size``.

    Raises:
        ModuleNotFoundError: MONAI is not installed (names the install command).
        ValueError: Part ``name`` cannot take patches of ``patch_size`` (not checked when
            None: a network that needs no size, built outside a trial).
    """
    nets = monai_nets()
    problem = None if patch_size is None else params.build_problem(patch_size)
    if problem is not None:
        raise ValueError(f"model {name!r}: {problem}")
    return nets


def need_patch_size(name: str, patch_size: Triplet | None) -> Triplet:
    """``patch_size``, or a ``TypeError`` saying that part ``name`` cannot be built without it."""
    if patch_size is None:
        raise TypeError(f"model {name!r} is built for one patch size: pass "
                        "build_model(..., patch_size=(D, H, W)), the sampler's patch size")
    return patch_size


class MonaiNetParams(Params):
    """Base of the MONAI network parts' parameters: the patch sizes a network can take.

    Subclasses override :meth:`patch_problem` (their size rule) and list their layer-spec
    fields in :attr:`layers` (checked against MONAI's layer factories).
    """

    layers: ClassVar[dict[str, str]] = {}
    """Field name -> MONAI layer factory (``Act``, ``Norm``) its names must come from."""

    def build_problem(self, patch_size: Triplet) -> str | None:
        """Why this network cannot be built for training patches of ``patch_size`` (MONAI
        missing, a layer name MONAI does not know, a size it cannot take), or None."""
        if importlib.util.find_spec("monai") is None:
            return f"needs MONAI, which is not installed: {INSTALL}"
        return self._layer_problem() or self.patch_problem(patch_size)

    def patch_problem(self, patch_size: Triplet) -> str | None:
        """Why patches of ``patch_size`` cannot pass this network, or None (the one hook)."""
        return None

    def _layer_problem(self) -> str | None:
        if not self.layers:
            return None
        factories = importlib.import_module("monai.networks.layers.factories")
        for field, factory in self.layers.items():
            spec = getattr(self, field)
            name = spec if isinstance(spec, str) else spec[0]
            known: tuple[str, ...] = getattr(factories, factory).names
            if name.upper() not in known:
                return (f"{field}: MONAI has no {factory} layer {name!r}; known: "
                        f"{', '.join(n.lower() for n in known)}")
        return None


def edges_divisible(patch_size: Triplet, divisor: int, why: str) -> str | None:
    """A message when an edge of ``patch_size`` is not a multiple of ``divisor``, else None."""
    if all(edge % divisor == 0 for edge in patch_size):
        return None
    return (f"every patch edge must be a multiple of {divisor} ({why}); got "
            f"sampler.patch_size={list(patch_size)}")

"""Training patches: TorchIO uniform / label samplers behind a Queue (paper section 2.2).

Why TorchIO: the paper used TorchIO's ``UniformSampler`` and ``LabelSampler`` with a
``Queue`` (Dobshik et al. 2023, arXiv:2301.06793). Each preprocessed case becomes a
``tio.Subject`` with the image, the lesion and a sampling map ``0`` background /
``1`` healthy brain / ``2`` lesion built from :class:`PreprocessedCase`'s brain and
lesion masks. The weighted sampler of the paper is ``LabelSampler`` with
``{0: 0, 1: 0.5, 2: 0.5}``: patch centres in healthy brain or lesion with equal
probability, never in the background. Without skull removal the brain mask is the
whole volume, so "healthy" then means any voxel that is not lesion.

Reproducibility: TorchIO samplers draw from torch's global generator. The loader keeps
its own generator state and swaps it in (``torch.random.fork_rng``) only while it
fetches a batch, so the same seed gives the same patches and the trainer's own random
stream is left as it was. DataLoader workers are seeded from that state too.

Limits (TorchIO's, as in the paper): a centre must lie at least ``patch // 2`` voxels
from the crop's edge, so lesion voxels nearer the edge are never centres; a case smaller
than the patch is zero-padded (label 0) to the patch size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torchio as tio

from data_pipeline.preprocess import PreprocessedCase

__all__ = [
    "AugmentationSpec",
    "lesion_class_counts",
    "list_augmentations",
    "list_samplers",
    "make_patch_loader",
    "sampling_map",
]

logger = logging.getLogger(__name__)

PAPER_LABEL_PROBABILITIES: Mapping[int, float] = {0: 0.0, 1: 0.5, 2: 0.5}
"""The paper's weighted sampler: centres in healthy brain or lesion, 50 % each."""

AugmentationSpec = str | tuple[str, Mapping[str, Any]]
"""An augmentation by name, or ``(name, params)`` with TorchIO keyword arguments."""

SamplerFactory = Callable[[tuple[int, int, int], Mapping[int, float]], tio.data.PatchSampler]

_SAMPLERS: dict[str, SamplerFactory] = {
    "uniform": lambda patch, _probabilities: tio.UniformSampler(patch),
    "label": lambda patch, probabilities: tio.LabelSampler(
        patch, label_name="sampling", label_probabilities=dict(probabilities)
    ),
}

_AUGMENTATIONS: dict[str, Callable[..., tio.Transform]] = {
    # The authors tried these and dropped them (section 3); off unless a sweep asks.
    "affine": tio.RandomAffine,  # scales 0.9-1.1, rotations up to 10 degrees
    "flip": lambda **kw: tio.RandomFlip(**{"axes": (2,), **kw}),  # left-right (X)
    "elastic": tio.RandomElasticDeformation,  # 7 control points, 7.5 voxels at most
    "gamma": tio.RandomGamma,  # log-gamma in [-0.3, 0.3]; keeps [0, 1]
}


def list_samplers() -> list[str]:
    """Names accepted by ``make_patch_loader(sampler=...)``."""
    return sorted(_SAMPLERS)


def list_augmentations() -> list[str]:
    """Names accepted by ``make_patch_loader(augmentations=...)``."""
    return sorted(_AUGMENTATIONS)


def lesion_class_counts(cases: Sequence[PreprocessedCase]) -> tuple[int, int]:
    """``(N0, N1)``: non-lesion and lesion voxels over the cases' cropped volumes.

    The weights of the paper's weighted BCE; pass the training patients of a fold only,
    so the test patients never shape the loss.
    """
    lesion = sum(int(np.count_nonzero(case.lesion)) for case in cases)
    total = sum(int(case.lesion.size) for case in cases)
    return total - lesion, lesion


def sampling_map(case: PreprocessedCase) -> np.ndarray:
    """``(Z, Y, X)`` uint8: 0 background, 1 healthy brain, 2 lesion (lesion wins)."""
    return np.where(case.lesion > 0, np.uint8(2), case.brain.astype(np.uint8, copy=False))


def make_patch_loader(
    cases: Sequence[PreprocessedCase],
    *,
    sampler: str,
    patch_size: tuple[int, int, int],
    patches_per_patient: int = 32,
    batch_size: int = 2,
    queue_length: int,
    num_workers: int = 0,
    label_probabilities: Mapping[int, float] = PAPER_LABEL_PROBABILITIES,
    augmentations: Sequence[AugmentationSpec] = (),
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of training patches, epoch after epoch, reproducible from ``seed``.

    An epoch draws ``patches_per_patient`` patches from every case (shuffled subjects,
    shuffled queue); every batch is full (patches left at an epoch's end open the next).

    Args:
        cases: preprocessed training cases (cropped; image in [0, 1]).
        sampler: ``"uniform"`` or ``"label"`` (:func:`list_samplers`).
        patch_size: ``(D, H, W)`` voxels; the paper: 128^3.
        patches_per_patient: patches per case per epoch; the paper: 32.
        batch_size: patches per batch; the paper: 2.
        queue_length: most patches held in memory (TorchIO ``Queue.max_length``);
            more mixes patients better, each 128^3 patch costs 8 MiB (image + masks).
        num_workers: processes that load and augment subjects for the queue.
        label_probabilities: centre probabilities per sampling label, ``"label"`` only.
        augmentations: names from :func:`list_augmentations` or ``(name, params)``.
        seed: the same seed gives the same batches.

    Yields:
        ``{"image": (B, 1, D, H, W) float32, "lesion": (B, 1, D, H, W) float32 0/1,
        "location": (B, 6) int64}``; ``location`` is the patch's first and last-plus-one
        voxel in the (padded) crop, as TorchIO reports it.

    Raises:
        KeyError: an unknown sampler or augmentation name (lists the allowed ones).
        ValueError: empty ``cases``, bad sizes or probabilities.
    """
    patch = _checked(cases, sampler, patch_size, patches_per_patient, batch_size,
                     queue_length, num_workers, label_probabilities)
    subjects = [_subject(case, patch) for case in cases]
    transform = _augmentation(augmentations)
    dataset = tio.SubjectsDataset(subjects, transform=transform)
    patch_sampler = _SAMPLERS[sampler](patch, label_probabilities)
    return _batches(dataset, patch_sampler, patches_per_patient, batch_size, queue_length,
                    num_workers, seed)


def _checked(
    cases: Sequence[PreprocessedCase],
    sampler: str,
    patch_size: Sequence[int],
    patches_per_patient: int,
    batch_size: int,
    queue_length: int,
    num_workers: int,
    label_probabilities: Mapping[int, float],
) -> tuple[int, int, int]:
    if sampler not in _SAMPLERS:
        raise KeyError(f"unknown sampler {sampler!r}; choose one of {list_samplers()}")
    if not cases:
        raise ValueError("no cases to sample patches from; pass the fold's training cases")
    if len(patch_size) != 3 or any(int(p) != p or p < 1 for p in patch_size):
        raise ValueError(f"patch_size must be three positive integers (D, H, W), got {patch_size}")
    sizes = {"patches_per_patient": patches_per_patient, "batch_size": batch_size,
             "queue_length": queue_length}
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if len(cases) * patches_per_patient < batch_size:
        raise ValueError(
            f"an epoch has {len(cases)} x {patches_per_patient} patches, fewer than one batch "
            f"of {batch_size}; raise patches_per_patient or lower batch_size"
        )
    unknown = set(label_probabilities) - {0, 1, 2}
    if unknown or any(p < 0 for p in label_probabilities.values()) \
            or not sum(label_probabilities.values()) > 0:
        raise ValueError(
            "label_probabilities must map labels 0 (background), 1 (healthy brain) and "
            f"2 (lesion) to non-negative numbers with a positive sum, got {label_probabilities}"
        )
    return (int(patch_size[0]), int(patch_size[1]), int(patch_size[2]))


def _subject(case: PreprocessedCase, patch: tuple[int, int, int]) -> tio.Subject:
    """A TorchIO subject sharing the case's memory; zero-padded when smaller than a patch."""
    subject = tio.Subject(
        image=tio.ScalarImage(tensor=torch.from_numpy(case.image[None])),
        lesion=tio.LabelMap(tensor=torch.from_numpy(case.lesion[None])),
        sampling=tio.LabelMap(tensor=torch.from_numpy(sampling_map(case)[None])),
    )
    short = [max(p - n, 0) for p, n in zip(patch, case.image.shape, strict=True)]
    if any(short):
        padding = tuple(v for s in short for v in (s // 2, s - s // 2))
        subject = tio.Pad(padding, padding_mode=0)(subject)
    return subject


def _augmentation(augmentations: Sequence[AugmentationSpec]) -> tio.Transform | None:
    transforms = []
    for item in augmentations:
        name, params = (item, {}) if isinstance(item, str) else _named(item)
        if name not in _AUGMENTATIONS:
            raise KeyError(f"unknown augmentation {name!r}; choose from {list_augmentations()}")
        transforms.append(_AUGMENTATIONS[name](**params))
    return tio.Compose(transforms) if transforms else None


def _named(item: Any) -> tuple[str, Mapping[str, Any]]:
    """``(name, params)`` from a pair, or from a config object with ``name`` and ``params``."""
    if isinstance(item, tuple) and len(item) == 2:
        return str(item[0]), dict(item[1])
    if hasattr(item, "name") and hasattr(item, "params"):  # e.g. the sweep's config entry
        return str(item.name), dict(item.params)
    raise TypeError(f"an augmentation is a name or (name, params), got {item!r}")


def _batches(
    dataset: tio.SubjectsDataset,
    sampler: tio.data.PatchSampler,
    patches_per_patient: int,
    batch_size: int,
    queue_length: int,
    num_workers: int,
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:
    state = torch.Generator().manual_seed(seed).get_state()
    loader: tio.SubjectsLoader | None = None
    batches: Iterator[dict[str, Any]] = iter(())
    while True:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(state)
            if loader is None:  # built here so that its workers' seeds come from ``state``
                queue = tio.Queue(dataset, max_length=queue_length,
                                  samples_per_volume=patches_per_patient, sampler=sampler,
                                  num_workers=num_workers, start_background=False)
                loader = tio.SubjectsLoader(queue, batch_size=batch_size, drop_last=True)
            batch = next(batches, None)
            if batch is None:  # an epoch ended
                batches = iter(loader)
                batch = next(batches)
            state = torch.get_rng_state()
        yield {
            "image": batch["image"][tio.DATA],
            "lesion": batch["lesion"][tio.DATA].float(),
            "location": batch[tio.LOCATION],
        }

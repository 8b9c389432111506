"""Training patches: TorchIO uniform / label samplers behind a Queue (paper section 2.2).

Why TorchIO: Dobshik et al. (2023, arXiv:2301.06793) describe a uniform and a weighted
patch sampler and say they used TorchIO 0.18 for data pre-processing; they do not say which
TorchIO classes. Ours are TorchIO's ``UniformSampler`` and ``LabelSampler`` behind a
``Queue``, which do what the paper describes. Each preprocessed case becomes a
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

Limits (TorchIO's): a centre must lie at least ``patch // 2`` voxels
from the crop's edge, so lesion voxels nearer the edge are never centres; a case smaller
than the patch is zero-padded (label 0) to the patch size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import numpy as np
import torch
import torchio as tio
from pydantic import BeforeValidator, Field, field_validator

from data_pipeline.augmentations import compose_augmentations
from data_pipeline.parts import Params, PartOf, PartSpec, Registry, as_tuple, int_keys
from data_pipeline.preprocess import PreprocessedCase

__all__ = [
    "SAMPLERS",
    "LabelSamplerParams",
    "SamplerParams",
    "lesion_class_counts",
    "make_patch_loader",
    "sampling_map",
]

logger = logging.getLogger(__name__)

SAMPLERS: Registry[tio.data.PatchSampler] = Registry(
    "sampler", "builder(params) -> torchio PatchSampler; make_patch_loader runs the rest")

PatchEdge = Annotated[int, Field(gt=0, le=512)]


def _three_sizes(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) != 3:
        raise ValueError("expected 3 sizes in voxels, (z, y, x) order")
    return as_tuple(value)


class SamplerParams(Params):
    """What every sampler shares: patch size, patches per patient, the queue, augmentations."""

    patch_size: Annotated[tuple[PatchEdge, PatchEdge, PatchEdge],
                          BeforeValidator(_three_sizes)] = (128, 128, 128)
    """Patch ``(D, H, W)`` in voxels (paper: 128^3)."""
    patches_per_patient: Annotated[int, Field(gt=0)] = 32
    """Patches drawn from each training case per epoch (paper: 32)."""
    queue_length: Annotated[int, Field(gt=0)] = 64
    """Most patches held in memory (TorchIO ``Queue.max_length``); ours: two patients'
    worth, so batches mix patients; each 128^3 patch costs 8 MiB."""
    num_workers: Annotated[int, Field(ge=0)] = 0
    """Processes loading and augmenting subjects for the queue; ours: 0 (in the trial's
    process, whose CPU share Ray reserves)."""
    augmentations: Annotated[tuple[Annotated[PartSpec, PartOf("augmentation")], ...],
                             BeforeValidator(as_tuple)] = ()
    """Augmentations, in order (paper: none; each made results worse)."""


class LabelSamplerParams(SamplerParams):
    """The paper's weighted sampler: centre labels drawn with these probabilities."""

    label_probabilities: Annotated[dict[int, Annotated[float, Field(ge=0.0)]],
                                   BeforeValidator(int_keys)] = {0: 0.0, 1: 0.5, 2: 0.5}
    """Centre probability per sampling label: 0 background, 1 healthy brain, 2 lesion
    (paper: 0, 0.5, 0.5)."""

    @field_validator("label_probabilities")
    @classmethod
    def _labels_and_sum(cls, value: dict[int, float]) -> dict[int, float]:
        if set(value) - {0, 1, 2}:
            raise ValueError(f"labels are 0 (background), 1 (healthy brain) and 2 (lesion), "
                             f"got {sorted(value)}")
        if abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1 (they sum to {sum(value.values()):g})")
        return value


@SAMPLERS.register("uniform", params=SamplerParams)
def uniform(params: SamplerParams) -> tio.data.PatchSampler:
    """Patch centres uniform over the (cropped) volume (TorchIO ``UniformSampler``)."""
    return tio.UniformSampler(params.patch_size)


@SAMPLERS.register("label", params=LabelSamplerParams)
def label(params: LabelSamplerParams) -> tio.data.PatchSampler:
    """Centres drawn per sampling label (TorchIO ``LabelSampler`` on the sampling map)."""
    return tio.LabelSampler(params.patch_size, label_name="sampling",
                            label_probabilities=dict(params.label_probabilities))


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
    sampler: PartSpec,
    *,
    batch_size: int,
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of training patches, epoch after epoch, reproducible from ``seed``.

    An epoch draws ``patches_per_patient`` patches from every case (shuffled subjects,
    shuffled queue); every batch is full (patches left at an epoch's end open the next).

    Args:
        cases: preprocessed training cases (cropped; image in [0, 1]).
        sampler: a validated sampler part (``SAMPLERS.spec("label")``); its parameters
            set the patch size, the queue and the augmentations.
        batch_size: patches per batch; the paper: 2.
        seed: the same seed gives the same batches.

    Yields:
        ``{"image": (B, 1, D, H, W) float32, "lesion": (B, 1, D, H, W) float32 0/1,
        "location": (B, 6) int64}``; ``location`` is the patch's first and last-plus-one
        voxel in the (padded) crop, as TorchIO reports it.

    Raises:
        ValueError: empty ``cases`` or an epoch smaller than one batch.
        TypeError: ``sampler`` is not a sampler part.
    """
    params = sampler.params
    if not cases:
        raise ValueError("no cases to sample patches from; pass the fold's training cases")
    if not isinstance(params, SamplerParams):
        raise TypeError(f"make_patch_loader needs a sampler part (SAMPLERS.spec(...)), "
                        f"got the {sampler.kind} part {sampler.name!r}")
    if batch_size < 1 or len(cases) * params.patches_per_patient < batch_size:
        raise ValueError(
            f"an epoch has {len(cases)} x {params.patches_per_patient} patches, fewer than one "
            f"batch of {batch_size}; raise patches_per_patient or lower batch_size")
    subjects = [_subject(case, params.patch_size) for case in cases]
    dataset = tio.SubjectsDataset(subjects, transform=compose_augmentations(params.augmentations))
    return _batches(dataset, SAMPLERS.create(sampler), params, batch_size, seed)


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


def _batches(
    dataset: tio.SubjectsDataset,
    sampler: tio.data.PatchSampler,
    params: SamplerParams,
    batch_size: int,
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:
    state = torch.Generator().manual_seed(seed).get_state()
    loader: tio.SubjectsLoader | None = None
    batches: Iterator[dict[str, Any]] = iter(())
    while True:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(state)
            if loader is None:  # built here so that its workers' seeds come from ``state``
                queue = tio.Queue(dataset, max_length=params.queue_length,
                                  samples_per_volume=params.patches_per_patient,
                                  sampler=sampler, num_workers=params.num_workers,
                                  start_background=False)
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

"""Tiled-inference measurements of ``gpu_check.py``: ours against MONAI and TorchIO on one patient.

All three contenders run the same network (the final Table 1 model, seed 0, one copy
each so that ours converting its copy to channels-last changes nothing for the others),
the same patch size, overlap, batch size and autocast dtype, and average sigmoid
probabilities where patches overlap. Ours skips patches without brain (the others cannot);
its mask is compared with theirs inside the brain only, where skipping cannot matter.
Each contender first runs one untimed batch (CUDA context, cuDNN autotuning).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["CONTENDERS", "compare_masks", "full_size_patient", "run_contender"]

CONTENDERS = ("ours", "monai", "torchio")


def full_size_patient(case: Any) -> tuple[np.ndarray, np.ndarray]:
    """The preprocessed image and brain mask pasted back onto the scan's full grid."""
    return case.paste(case.image).astype(np.float32), case.paste(case.brain).astype(np.uint8)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _ours(model: nn.Module, image: np.ndarray, brain: np.ndarray, opts: dict[str, Any]) -> Any:
    from platform.inference.sliding_window import Tiling, predict_volume

    return predict_volume(model, image,
                          Tiling(patch_size=(opts["patch"],) * 3, overlap=opts["overlap"],
                                 batch_size=opts["batch"]),
                          device=opts["device"], amp=opts["dtype"] is not None,
                          brain=brain)  # fmt: skip


def _monai(model: nn.Module, image: np.ndarray, brain: np.ndarray, opts: dict[str, Any]) -> Any:
    from monai.inferers import sliding_window_inference

    volume = torch.from_numpy(image)[None, None].to(opts["device"])
    with torch.no_grad(), _autocast(opts["device"], opts["dtype"]):
        prob = sliding_window_inference(
            volume, roi_size=(opts["patch"],) * 3, sw_batch_size=opts["batch"],
            predictor=lambda x: torch.sigmoid(model(x).float()), overlap=opts["overlap"],
            mode="constant",
        )  # fmt: skip
    return prob[0, 0].float().cpu().numpy()


def _torchio(model: nn.Module, image: np.ndarray, brain: np.ndarray, opts: dict[str, Any]) -> Any:
    import torchio as tio

    from platform.inference.tiles import patch_overlap_voxels

    patch = (opts["patch"],) * 3
    subject = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(image)[None]))
    sampler = tio.GridSampler(subject, patch, patch_overlap_voxels(patch, opts["overlap"]))
    aggregator = tio.GridAggregator(sampler, overlap_mode="average")
    with torch.no_grad(), _autocast(opts["device"], opts["dtype"]):
        for batch in tio.SubjectsLoader(sampler, batch_size=opts["batch"]):
            logits = model(batch["image"][tio.DATA].to(opts["device"], non_blocking=True))
            aggregator.add_batch(torch.sigmoid(logits.float()), batch[tio.LOCATION])
    return aggregator.get_output_tensor()[0].numpy()


RUNNERS: dict[str, Callable[[nn.Module, np.ndarray, np.ndarray, dict[str, Any]], Any]] = {
    "ours": _ours, "monai": _monai, "torchio": _torchio,
}  # fmt: skip


def _warm_up(model: nn.Module, opts: dict[str, Any]) -> None:
    """One untimed forward at the batch shape (CUDA context, cuDNN algorithm search)."""
    shape = (opts["batch"], 1, *(opts["patch"],) * 3)
    with torch.no_grad(), _autocast(opts["device"], opts["dtype"]):
        model(torch.zeros(shape, device=opts["device"]))
    if opts["device"].type == "cuda":
        torch.cuda.synchronize(opts["device"])


def run_contender(
    name: str, network: nn.Module, image: np.ndarray, brain: np.ndarray, opts: dict[str, Any]
) -> tuple[float, np.ndarray]:
    """Seconds for one whole patient (upload and download included) and the probabilities.

    Args:
        network: the shared network; the contender gets its own copy on ``opts["device"]``.
        opts: ``patch`` (edge, voxels), ``overlap``, ``batch``, ``device``, ``dtype``
            (autocast dtype or None).
    """
    model = copy.deepcopy(network).to(opts["device"]).eval()
    if name == "ours" and opts["device"].type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)  # as predict_volume runs it
    _warm_up(model, opts)
    started = time.perf_counter()
    prob = RUNNERS[name](model, image, brain, opts)
    if opts["device"].type == "cuda":
        torch.cuda.synchronize(opts["device"])
    return time.perf_counter() - started, np.asarray(prob, dtype=np.float32)


def compare_masks(ours: np.ndarray, other: np.ndarray, brain: np.ndarray) -> dict[str, float]:
    """Largest probability difference and voxels whose 0.5-mask differs, inside the brain."""
    inside = brain.astype(bool)
    diff = np.abs(ours[inside] - other[inside])
    differ = int(np.count_nonzero((ours[inside] >= 0.5) != (other[inside] >= 0.5)))
    return {"max_abs_diff_in_brain": float(diff.max(initial=0.0)),
            "mask_voxels_differing_in_brain": differ,
            "mask_fraction_differing_in_brain": differ / max(int(inside.sum()), 1)}

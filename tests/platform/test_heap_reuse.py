"""Tests for platform/heap_reuse.py: freed large blocks are reused inside the block, not after."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
import torch

from platform import heap_reuse
from platform.heap_reuse import reuse_freed_memory

PAGES = 64 * 2**20 // 4096  # one (1, 8, 128, 128, 128) float32 activation in 4 KiB pages


def _net_and_input() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d
    net = torch.nn.Sequential(
        conv(1, 8, 3, padding=1), torch.nn.LeakyReLU(), conv(8, 1, 3, padding=1)
    )
    return net, torch.rand(1, 1, 128, 128, 128)


def _faults_of_one_forward(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Page faults of a forward whose 64 MiB activations lie above glibc's mmap threshold."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.inference_mode():
        net(x)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _huge_pages_always() -> bool:
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.exists() and "[always]" in path.read_text()


def test_freed_activations_are_reused_inside_the_block_only() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    net, x = _net_and_input()
    try:
        with reuse_freed_memory() as active:
            if not active:
                pytest.skip("the C library is not glibc")
            faults = [_faults_of_one_forward(net, x) for _ in range(5)]
            assert faults[-1] < PAGES // 20, faults  # the heap has grown to the working set
        if not _huge_pages_always():  # with 2 MiB pages there are too few faults to tell
            assert _faults_of_one_forward(net, x) > PAGES  # glibc's default: fresh pages again
    finally:
        torch.set_num_threads(threads)


def test_nested_blocks_restore_only_at_the_outer_exit(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []

    class FakeLibc:
        def mallopt(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

        def malloc_trim(self, pad: int) -> int:
            calls.append((0, pad))
            return 1

    monkeypatch.setattr(heap_reuse, "_glibc", lambda: FakeLibc())
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "262144")
    with reuse_freed_memory(), reuse_freed_memory():
        assert calls == [(-4, 0), (-1, 2**31 - 1)]
    assert calls[2:] == [(-4, 65536), (-1, 262144), (0, 0)]  # the environment's value is kept

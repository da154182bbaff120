"""Device-aware timing, peak memory and memory bandwidth (CUDA when on GPU, plain clocks on CPU)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int | None:
    """Peak allocated device memory since the last reset; None off CUDA (no allocator to ask)."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads of {os.cpu_count()})"


def median_seconds(op: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median wall time of `op`, synchronising the device around each call so that queued
    kernels are counted where they run, not where they were launched."""
    for _ in range(warmup):
        op()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        op()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_bandwidth(device: torch.device, nbytes: int | None = None, repeats: int = 10) -> float:
    """Achievable memory bandwidth in bytes/s: a large device-to-device copy reads and writes
    every byte once. Used as the roofline for memory-bound decode steps."""
    nbytes = nbytes or (2 << 30 if device.type == "cuda" else 256 << 20)
    source = torch.empty(nbytes, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    return 2 * nbytes / median_seconds(lambda: target.copy_(source), device, repeats)

"""The machine's single-core compute peak, measured by a short calibration loop.

A model's latency is compute-bound when its MACs per second approach what one core can do
at best, and overhead-bound when they fall far short. The best a core does on float32 is
what an optimized BLAS reaches on a large square matmul, so the peak is numpy's float32
matmul pinned to one thread (threadpoolctl), timed a few times, the fastest kept.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["PEAK_SIZE", "peak_macs_per_second"]

PEAK_SIZE = 384  # 56.6 M MACs a call: a few ms, large enough for BLAS to reach its peak


def peak_macs_per_second(seconds: float = 0.3, size: int = PEAK_SIZE) -> float:
    """Float32 multiply-accumulates per second of one thread: the best of repeated timed
    matmuls over about `seconds` (the best, not the median, estimates an unloaded core)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), np.float32)
    best = float("inf")
    with threadpool_limits(limits=1):
        np.matmul(a, b, out=out)  # warm-up: page in, pick the kernel
        deadline = time.perf_counter() + seconds
        runs = 0
        while runs < 3 or time.perf_counter() < deadline:
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
            runs += 1
    return size**3 / best

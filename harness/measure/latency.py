"""Latency measured the way benchmark_model does: warm-up, then timed runs until both a
minimum count and a minimum time are reached; percentiles from the per-run samples."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_calls(
    call: Callable[[], None], *, warmup: int, min_runs: int, min_seconds: float, max_runs: int
) -> np.ndarray:
    """Per-call wall times in nanoseconds; only the call sits between the two clock reads."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    budget_ns = int(min_seconds * 1e9)
    started = clock()
    while len(samples) < max_runs:
        t0 = clock()
        call()
        append(clock() - t0)
        if len(samples) >= min_runs and clock() - started >= budget_ns:
            break
    return np.asarray(samples, dtype=np.int64)


def summarize(samples_ns: np.ndarray, batch: int) -> dict[str, float]:
    """Mean, spread and percentiles in milliseconds, and samples per second."""
    ms = samples_ns.astype(np.float64) / 1e6
    mean = float(ms.mean())
    return {
        "latency_mean_ms": mean,
        "latency_std_ms": float(ms.std()),
        "latency_min_ms": float(ms.min()),
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p90_ms": float(np.percentile(ms, 90)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "throughput_per_s": batch * 1000.0 / mean if mean > 0 else 0.0,
    }


def keep_samples(samples_ns: np.ndarray, limit: int = 500) -> list[float]:
    """At most `limit` samples in milliseconds, evenly spaced in time order, for histograms."""
    step = max(1, len(samples_ns) // limit)
    return [round(float(v) / 1e6, 6) for v in samples_ns[::step][:limit]]

"""Latency measured the way benchmark_model does: warm-up, then timed runs until both a
minimum count and a minimum time are reached; percentiles from the per-run samples."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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


def round_summary(samples_ns: np.ndarray) -> dict[str, float]:
    """What is kept of one round (one worker process): its percentiles in milliseconds."""
    ms = samples_ns.astype(np.float64) / 1e6
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "runs": len(ms),
    }


def combine_rounds(
    rounds: list[dict[str, float]], samples_ns: list[np.ndarray], batch: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """A candidate's latency from its rounds: each percentile is the median over rounds (a
    round is one independent sample of the machine's state; the calls inside one are not),
    mean and spread from every call. Returns (metrics, the rounds' spread for details)."""
    pooled = summarize(np.concatenate(samples_ns), batch)
    p50s = [r["p50_ms"] for r in rounds]
    median = float(np.median(p50s))
    metrics = {
        **pooled,
        "latency_p50_ms": median,
        "latency_p90_ms": float(np.median([r["p90_ms"] for r in rounds])),
        "latency_p99_ms": float(np.median([r["p99_ms"] for r in rounds])),
    }
    spread = {
        "round_p50_ms": p50s,
        "p50_low_ms": min(p50s),
        "p50_high_ms": max(p50s),
        # Lowest to highest round p50, relative to their median.
        "spread": (max(p50s) - min(p50s)) / median if median > 0 else 0.0,
    }
    return metrics, spread

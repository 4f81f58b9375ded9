"""Rounds on the measurement side: the idlest CPUs from /proc/stat, a round's share of the
timing budget, and a candidate's latency from its rounds."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure.cpus import idlest, read_cpu_times, was_busy
from harness.measure.latency import combine_rounds, round_summary
from harness.measure.runner import round_latency
from harness.specs import LatencySpec
from harness.sweep.rounds import round_robin

STAT_BEFORE = """cpu  300 0 300 800 0 0 0 0 0 0
cpu0 100 0 100 400 0 0 0 0 0 0
cpu1 200 0 200 400 0 0 0 0 0 0
intr 12345
"""
# Over the window cpu0 was busy (idle +10 of +100 ticks) and cpu1 idle (+95 of +100).
STAT_AFTER = """cpu  380 0 15 905 0 0 0 0 0 0
cpu0 180 0 110 410 0 0 0 0 0 0
cpu1 200 0 205 495 0 0 0 0 0 0
"""


def test_the_worker_goes_to_the_idlest_cpu_not_the_last_one() -> None:
    before, after = read_cpu_times(STAT_BEFORE), read_cpu_times(STAT_AFTER)
    assert before == {0: (400, 600), 1: (400, 800)}
    assert idlest(before, after, [0, 1], 1) == [1]
    busy_last = {0: after[1], 1: after[0]}  # the same readings with the CPUs swapped
    assert idlest({0: before[1], 1: before[0]}, busy_last, [0, 1], 1) == [0]
    assert idlest(before, after, [0], 1) == [0]  # only what the affinity allows
    assert idlest(before, after, [0, 1], 2) == [0, 1]
    assert was_busy(2.5, 2) and not was_busy(1.5, 2) and not was_busy(None, 2)


def test_rounds_share_the_timing_budget() -> None:
    spec = LatencySpec(1, 20, 100, 0.3, 100_000, 300, (), rounds=3)
    share = round_latency(spec)
    assert (share["min_runs"], share["max_runs"]) == (34, 33_334)  # ceil(100 / 3), ceil(1e5 / 3)
    assert share["min_seconds"] == pytest.approx(0.1)
    assert share["warmup"] == 20  # every fresh process warms up again


def test_a_candidates_p50_is_the_median_of_its_rounds() -> None:
    rounds_ns = [np.array([1, 2, 3, 4, 100]) * 1_000_000, np.array([5, 6, 7]) * 1_000_000,
                 np.array([2, 2, 2, 2]) * 1_000_000]  # fmt: skip
    rounds = [round_summary(s) for s in rounds_ns]
    assert [r["p50_ms"] for r in rounds] == [3.0, 6.0, 2.0]
    assert rounds[0]["runs"] == 5 and rounds[0]["mean_ms"] == 22.0 and rounds[0]["min_ms"] == 1.0
    metrics, spread = combine_rounds(rounds, rounds_ns, batch=1)
    assert metrics["latency_p50_ms"] == 3.0  # median of 3, 6, 2; the pooled calls' is 3 too
    assert metrics["latency_mean_ms"] == pytest.approx(
        136 / 12
    )  # every call counts: (110 + 18 + 8) / 12
    assert spread == {
        "round_p50_ms": [3.0, 6.0, 2.0], "p50_low_ms": 2.0, "p50_high_ms": 6.0,
        "spread": pytest.approx(4 / 3),
    }  # fmt: skip


def test_rounds_interleave_round_robin_over_the_plan() -> None:
    assert round_robin(["a", "b", "c"], 2) == [
        (0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c"),
    ]  # fmt: skip

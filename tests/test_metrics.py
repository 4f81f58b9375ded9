from __future__ import annotations

import numpy as np
import pytest

from harness.measure.latency import keep_samples, summarize, time_calls
from harness.measure.metrics import classification_report, parity, wilson_interval


def test_binary_accuracy_is_tp_plus_tn_over_p_plus_n() -> None:
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    y_pred = np.array([1, 0, 1, 0, 0, 1, 0, 1])
    report = classification_report(y_true, y_pred, ("neg", "pos"))
    b = report["binary"]
    assert (b["tp"], b["tn"], b["fp"], b["fn"]) == (3, 3, 1, 1)
    assert report["accuracy"] == (b["tp"] + b["tn"]) / 8
    assert report["per_class"][1]["precision"] == pytest.approx(3 / 4)
    assert report["confusion"] == [[3, 1], [1, 3]]


def test_multiclass_accuracy_is_trace_over_n_with_wilson_interval() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    p = np.array([0, 2, 2, 2, 1, 0, 1])
    report = classification_report(y, p, ("a", "b", "c"))
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert "binary" not in report
    assert report["accuracy_low"] < 5 / 7 < report["accuracy_high"]


def test_wilson_interval_known_value_and_width_shrinks_with_n() -> None:
    # 390/400: the Wilson 95% interval is [0.9546, 0.9864] (closed form).
    low, high = wilson_interval(390, 400)
    assert (round(low, 4), round(high, 4)) == (0.9546, 0.9864)
    small = wilson_interval(39, 40)
    assert small[1] - small[0] > high - low
    assert wilson_interval(400, 400)[1] == pytest.approx(1.0)


def test_parity_reports_difference_and_agreement() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[0.9, 0.0], [1.0, 0.5]])
    assert parity(a, b) == {"parity_max_abs": pytest.approx(1.0), "parity_agreement": 0.5}


def test_timer_respects_min_runs_min_time_and_max_runs() -> None:
    calls = []
    samples = time_calls(
        lambda: calls.append(1), warmup=5, min_runs=30, min_seconds=0.0, max_runs=1000
    )
    assert len(samples) == 30 and len(calls) == 35
    capped = time_calls(lambda: None, warmup=0, min_runs=10, min_seconds=60.0, max_runs=50)
    assert len(capped) == 50
    stats = summarize(np.array([1_000_000, 2_000_000, 3_000_000]), batch=4)
    assert stats["latency_p50_ms"] == 2.0 and stats["latency_min_ms"] == 1.0
    assert stats["throughput_per_s"] == pytest.approx(2000.0)
    assert len(keep_samples(np.arange(10_000), limit=500)) == 500

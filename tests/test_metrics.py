from __future__ import annotations

import math

import numpy as np
import pytest

from harness.measure.latency import (
    combine_rounds,
    keep_samples,
    round_summary,
    summarize,
    time_calls,
)
from harness.measure.metrics import (
    accuracy,
    classification_report,
    correct_bits,
    parity,
    wilson_interval,
)


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


# ---- exact values on asymmetric inputs: every count and rate differs from every other ------

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def _wilson_by_hand(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The closed form: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p, z2 = correct / n, z**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def test_binary_report_from_an_asymmetric_confusion_matrix() -> None:
    # TP 5, TN 3, FP 2, FN 1: swapping any two counts changes some reported number.
    y_true = np.array([1] * 5 + [0] * 3 + [0] * 2 + [1] * 1)
    y_pred = np.array([1] * 5 + [0] * 3 + [1] * 2 + [0] * 1)
    report = classification_report(y_true, y_pred, ("neg", "pos"))
    assert report["binary"] == {"tp": 5, "tn": 3, "fp": 2, "fn": 1}
    assert report["confusion"] == [[3, 2], [1, 5]]  # rows: true class, columns: predicted
    assert report["accuracy"] == 8 / 11 and report["n_test"] == 11
    assert report["classes"] == ["neg", "pos"]
    neg, pos = report["per_class"]
    assert neg == {
        "label": "neg",
        "precision": pytest.approx(3 / 4),  # TN / (TN + FN)
        "recall": pytest.approx(3 / 5),  # TN / (TN + FP)
        "f1": pytest.approx(2 / 3),
        "support": 5,
    }
    assert pos == {
        "label": "pos",
        "precision": pytest.approx(5 / 7),  # TP / (TP + FP)
        "recall": pytest.approx(5 / 6),  # TP / (TP + FN)
        "f1": pytest.approx(10 / 13),
        "support": 6,
    }
    low, high = _wilson_by_hand(8, 11)
    assert report["accuracy_low"] == pytest.approx(low, abs=1e-12)
    assert report["accuracy_high"] == pytest.approx(high, abs=1e-12)


def test_multiclass_report_rows_are_true_classes_and_columns_predictions() -> None:
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 1, 0, 2, 1])
    report = classification_report(y_true, y_pred, ("a", "b", "c"))
    assert report["confusion"] == [[2, 1, 1], [1, 2, 0], [0, 1, 1]]
    assert report["accuracy"] == 5 / 9 and report["n_test"] == 9
    rows = [(c["precision"], c["recall"], c["support"]) for c in report["per_class"]]
    assert rows == [
        (pytest.approx(2 / 3), pytest.approx(2 / 4), 4),
        (pytest.approx(2 / 4), pytest.approx(2 / 3), 3),
        (pytest.approx(1 / 2), pytest.approx(1 / 2), 2),
    ]
    assert [c["f1"] for c in report["per_class"]] == pytest.approx([4 / 7, 4 / 7, 1 / 2])
    assert "binary" not in report


def test_a_class_never_predicted_has_zero_precision_and_its_row_in_the_matrix() -> None:
    report = classification_report(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1]), ("a", "b", "c"))
    assert report["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 2, 0]]
    c = report["per_class"][2]
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 2)
    assert report["per_class"][1]["precision"] == pytest.approx(1 / 3)


def test_no_samples_give_the_whole_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("correct", "n"), [(1, 3), (7, 20), (390, 400), (0, 12), (12, 12)])
def test_wilson_interval_matches_the_closed_form(correct: int, n: int) -> None:
    low, high = wilson_interval(correct, n)
    expected = _wilson_by_hand(correct, n)
    assert (low, high) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_at_another_confidence_level() -> None:
    # 90%: z = 1.6448536269514722; 30 of 40 gives [0.6240, 0.8443].
    low, high = wilson_interval(30, 40, confidence=0.90)
    assert (low, high) == pytest.approx(_wilson_by_hand(30, 40, 1.6448536269514722), abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.6240, 0.8443)


def test_plain_accuracy_counts_matches_over_all_samples() -> None:
    assert accuracy(np.array([1, 2, 3, 0]), np.array([1, 0, 3, 0])) == 3 / 4
    assert accuracy(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) == 0.0


def test_parity_is_the_largest_absolute_difference_and_argmax_agreement() -> None:
    # The largest difference is negative (reference below other): it must count by size.
    reference = np.array([[0.0, 1.0], [2.0, 0.0], [0.3, 0.2]])
    other = np.array([[0.0, 3.0], [1.9, 0.0], [0.1, 0.2]])
    assert parity(reference, other) == {
        "parity_max_abs": pytest.approx(2.0),
        "parity_agreement": pytest.approx(2 / 3),  # rows 0 and 1 agree, row 2 does not
    }


# ---- latency summaries on a known, skewed sample ---------------------------------------------

SKEWED_MS = [13, 1, 8, 2, 40, 1, 3, 5, 1, 2]  # sorted: 1 1 1 2 2 3 5 8 13 40; mean 7.6


def test_summary_of_a_skewed_sample_by_hand() -> None:
    stats = summarize(np.array(SKEWED_MS, dtype=np.int64) * 1_000_000, batch=4)
    # Percentiles interpolate linearly between order statistics at rank q/100 * (n - 1).
    assert stats == {
        "latency_mean_ms": pytest.approx(7.6),
        "latency_std_ms": pytest.approx(math.sqrt(1300.4 / 10)),  # population spread
        "latency_min_ms": 1.0,
        "latency_p50_ms": pytest.approx(2.5),  # rank 4.5: between 2 and 3
        "latency_p90_ms": pytest.approx(13 + 0.1 * 27),  # rank 8.1: 13 + 0.1 * (40 - 13)
        "latency_p99_ms": pytest.approx(13 + 0.91 * 27),  # rank 8.91
        "throughput_per_s": pytest.approx(4 * 1000 / 7.6),  # batch samples per mean call
    }


def test_summary_converts_nanoseconds_to_milliseconds() -> None:
    stats = summarize(np.array([250_000, 750_000], dtype=np.int64), batch=1)
    assert stats["latency_min_ms"] == 0.25 and stats["latency_mean_ms"] == 0.5
    assert stats["throughput_per_s"] == pytest.approx(2000.0)


def test_kept_samples_are_evenly_spaced_in_time_order_and_in_milliseconds() -> None:
    samples = np.arange(1000, dtype=np.int64) * 1_000_000 + 1_234_567
    kept = keep_samples(samples, limit=300)  # step 1000 // 300 = 3, then the first 300
    assert len(kept) == 300
    assert kept[:3] == [1.234567, 4.234567, 7.234567] and kept[-1] == 898.234567
    assert keep_samples(samples[:7], limit=300) == [1.234567 + i for i in range(7)]
    assert keep_samples(samples[:600], limit=300) == [1.234567 + 2 * i for i in range(300)]


def test_timer_stops_at_max_runs_even_below_min_runs() -> None:
    calls: list[int] = []
    samples = time_calls(
        lambda: calls.append(1), warmup=3, min_runs=10, min_seconds=0.0, max_runs=4
    )
    assert len(samples) == 4 and len(calls) == 7 and samples.dtype == np.int64
    assert (samples >= 0).all()


def test_a_timed_call_is_the_difference_of_two_clock_reads() -> None:
    samples = time_calls(lambda: None, warmup=0, min_runs=5, min_seconds=0.0, max_runs=5)
    assert (samples >= 0).all() and samples.max() < 1_000_000_000  # a no-op takes < 1 s


def test_zero_latency_gives_zero_throughput_not_a_division_by_zero() -> None:
    stats = summarize(np.zeros(3, dtype=np.int64), batch=8)
    assert stats["throughput_per_s"] == 0.0 and stats["latency_p99_ms"] == 0.0


def test_at_most_500_samples_are_kept_by_default() -> None:
    assert len(keep_samples(np.arange(1000, dtype=np.int64))) == 500  # every second one
    assert len(keep_samples(np.arange(499, dtype=np.int64))) == 499


def test_correct_samples_are_packed_eight_to_a_byte_first_sample_highest_bit() -> None:
    # 1011 0000 | 1 (padded with zeros): what a paired test between two candidates reads.
    assert correct_bits(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1])) == "b080"
    assert correct_bits(np.array([True] * 8)) == "ff"
    assert correct_bits(np.array([], dtype=bool)) == ""


# ---- a candidate's latency from its rounds (fresh worker processes) ----------------------
# Each round keeps its own percentiles; the leaderboard's p50/p90/p99 are the medians over
# rounds, its mean and spread come from every call.

MS = 1_000_000  # nanoseconds
# Three rounds of one candidate: a skewed one, a slow one, a steady one.
ROUNDS_MS = [[1, 2, 3, 4, 100], [5, 6, 7], [2, 2, 2, 2]]


def _rounds() -> list[np.ndarray]:
    return [np.array(r, dtype=np.int64) * MS for r in ROUNDS_MS]


def test_a_round_keeps_its_percentiles_mean_minimum_and_count_in_ms() -> None:
    skewed, slow, steady = (round_summary(s) for s in _rounds())
    assert skewed == {
        "p50_ms": 3.0,  # rank 2
        "p90_ms": pytest.approx(4 + 0.6 * 96),  # rank 3.6: between 4 and 100
        "p99_ms": pytest.approx(4 + 0.96 * 96),  # rank 3.96
        "mean_ms": 22.0,
        "min_ms": 1.0,
        "runs": 5,
    }
    assert slow == {"p50_ms": 6.0, "p90_ms": pytest.approx(6.8), "p99_ms": pytest.approx(6.98),
                    "mean_ms": 6.0, "min_ms": 5.0, "runs": 3}  # fmt: skip
    assert steady == {"p50_ms": 2.0, "p90_ms": 2.0, "p99_ms": 2.0, "mean_ms": 2.0,
                      "min_ms": 2.0, "runs": 4}  # fmt: skip


def test_percentiles_are_medians_over_rounds_and_the_mean_is_over_every_call() -> None:
    samples = _rounds()
    metrics, spread = combine_rounds([round_summary(s) for s in samples], samples, batch=4)
    calls = [v for r in ROUNDS_MS for v in r]  # 12 calls, 136 ms in all
    assert sum(calls) == 136 and len(calls) == 12
    assert metrics == {
        "latency_p50_ms": 3.0,  # median of 3, 6, 2
        "latency_p90_ms": pytest.approx(6.8),  # median of 61.6, 6.8, 2
        "latency_p99_ms": pytest.approx(6.98),  # median of 96.16, 6.98, 2
        "latency_mean_ms": pytest.approx(136 / 12),
        "latency_std_ms": pytest.approx(
            math.sqrt(sum(v * v for v in calls) / 12 - (136 / 12) ** 2)
        ),
        "latency_min_ms": 1.0,
        "throughput_per_s": pytest.approx(4 * 1000 / (136 / 12)),  # batch 4 per mean call
    }
    assert spread == {
        "round_p50_ms": [3.0, 6.0, 2.0],
        "p50_low_ms": 2.0,
        "p50_high_ms": 6.0,
        "spread": pytest.approx((6 - 2) / 3),  # lowest to highest, relative to the median
    }


def test_the_spread_of_sub_millisecond_rounds_is_relative_to_their_median() -> None:
    samples = [np.array([v], dtype=np.int64) for v in (400_000, 500_000, 900_000)]
    metrics, spread = combine_rounds([round_summary(s) for s in samples], samples, batch=1)
    assert metrics["latency_p50_ms"] == 0.5
    assert spread["spread"] == pytest.approx((0.9 - 0.4) / 0.5)


def test_rounds_that_took_no_time_have_no_spread_not_a_division_by_zero() -> None:
    samples = [np.zeros(2, dtype=np.int64) for _ in range(3)]
    metrics, spread = combine_rounds([round_summary(s) for s in samples], samples, batch=1)
    assert metrics["latency_p50_ms"] == 0.0 and metrics["throughput_per_s"] == 0.0
    assert spread["spread"] == 0.0


def test_a_class_absent_from_the_test_set_keeps_its_row_column_and_zero_scores() -> None:
    # A rare class can miss the test split entirely: the matrix stays K x K, in class order.
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    report = classification_report(y_true, y_pred, ("a", "b", "rare"))
    assert report["confusion"] == [[1, 1, 0], [1, 2, 0], [0, 0, 0]]
    assert report["accuracy"] == 3 / 5 and report["n_test"] == 5
    assert report["per_class"][2] == {
        "label": "rare", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
    }  # fmt: skip
    assert report["per_class"][1]["precision"] == pytest.approx(2 / 3)

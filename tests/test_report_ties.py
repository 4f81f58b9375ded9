"""Ties: McNemar's exact test on the shared test samples, the latency noise band, and
what the front, the budget picks and `select` do with them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from harness.measure.metrics import correct_bits
from harness.report import ties
from harness.report.data import budget_picks
from harness.report.select import Budget, select, select_picks
from harness.specs import BudgetSpec as BudgetBox
from harness.store.results import CandidateRecord

N_TEST = 450


def _cand(
    key: str, wrong: list[int], size: int, p50: float, spread: float = 0.0, runtime: str = "litert"
) -> CandidateRecord:
    correct = np.ones(N_TEST, dtype=bool)
    correct[wrong] = False
    acc = correct.mean()
    return CandidateRecord(
        key=key, dataset="digits", model="cnn", policy="none", compression=key,
        runtime=runtime, status="ok", id=hash(key) % 1000,
        metrics={"accuracy": float(acc), "accuracy_low": float(acc) - 0.02,
                 "accuracy_high": float(acc) + 0.01, "file_bytes": size, "latency_p50_ms": p50},
        details={"correct_bits": correct_bits(correct),
                 "latency": {"round_p50_ms": [p50 * math.exp(-spread), p50, p50 * math.exp(spread)]}},
    )  # fmt: skip


@pytest.mark.parametrize("b, c", [(0, 0), (1, 6), (0, 8), (3, 3), (10, 2), (40, 61)])
def test_mcnemar_p_is_scipys_exact_binomial_test(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert ties.mcnemar_p(np.array([b]), np.array([c]))[0] == pytest.approx(expected)


def test_the_tie_table_agrees_with_binomtest_for_every_split() -> None:
    table = ties._most_lopsided(64)
    for m in range(1, 65):
        for b in range(m + 1):
            tied = min(b, m - b) > table[m]
            assert tied == (binomtest(min(b, m - b), m, 0.5).pvalue >= ties.ACCURACY_ALPHA), (b, m)


def test_accuracy_ties_follow_the_paired_test() -> None:
    base = _cand("base", [0, 1, 2, 3, 4], 1000, 1.0)
    # discordant 1 vs 6: p = 2 * (1 + 7) / 2^7 = 0.125 -> tied, though 5 samples apart
    close = _cand("close", [0, 1, 2, 3, 5, 6, 7, 8, 9, 10], 1000, 1.0)
    # discordant 0 vs 8: p = 2 / 2^8 = 0.0078 -> not tied
    worse = _cand("worse", [0, 1, 2, 3, 4, *range(20, 28)], 1000, 1.0)
    t = ties.Ties.of([base, close, worse])
    assert t.accuracy_tied(0).tolist() == [True, True, False]


def test_select_prefers_the_smaller_of_tied_candidates_and_says_so() -> None:
    # The case: 99.33% at 152 KB ranked above a tied 99.11% at 43.8 KB. Discordant
    # samples 2 vs 1: p = 1.0, a tie; the smaller wins, and says what it is tied with.
    big = _cand("big", [0, 1, 2], 152_000, 0.0044, 0.01)
    small = _cand("small", [0, 1, 5, 6], 43_800, 0.0044, 0.01)
    assert big.metric("accuracy") == pytest.approx(447 / 450)
    assert small.metric("accuracy") == pytest.approx(446 / 450)
    (pick,) = select_picks([big, small], Budget(max_p50=0.01))
    assert pick.record.key == "small"
    assert [r.key for r in pick.tied] == ["big"]
    assert pick.tied_text() == (
        "tied on accuracy with none · big · litert; ties go to the smaller, then the faster"
    )
    assert [r.key for r in select([big, small], Budget())] == ["small"]
    box = budget_picks([big, small], [BudgetBox("p50 ≤ 0.1 ms", "latency_p50_ms", 0.1)])[0]
    assert box.pick is small and box.tied == pick.tied_text()


def test_a_latency_difference_inside_the_noise_is_no_reason_to_be_on_the_front() -> None:
    # Same samples right; 'fast' is 3x larger. With rounds spread e^±0.05 (log sd 0.05, sd
    # of a median of 3: 0.0289) the band is 3 * sqrt(2) * 0.0289 = 12.2%, wider than the
    # 10% floor: 'fast' being 11% faster is a tie, so 'small' dominates it.
    wrong = [0, 1]
    fast, small = _cand("fast", wrong, 3000, 1.00, 0.05), _cand("small", wrong, 1000, 1.11, 0.05)
    assert [r.key for r in ties.front([fast, small])] == ["small"]
    # 15% apart is outside the band: both are Pareto-optimal.
    apart = [_cand("fast", wrong, 3000, 1.00, 0.05), _cand("small", wrong, 1000, 1.15, 0.05)]
    assert [r.key for r in ties.front(apart)] == ["fast", "small"]
    # Rounds that agree to the timer's resolution (spread 0) still tie within the 10% floor,
    # and not beyond it.
    exact = [_cand("fast", wrong, 3000, 1.00), _cand("small", wrong, 1000, 1.02)]
    assert [r.key for r in ties.front(exact)] == ["small"]
    exact = [_cand("fast", wrong, 3000, 1.00), _cand("small", wrong, 1000, 1.11)]
    assert [r.key for r in ties.front(exact)] == ["fast", "small"]


def test_a_tie_on_accuracy_and_size_goes_to_the_faster_then_the_more_accurate() -> None:
    a = _cand("a", [0, 1, 2], 1000, 1.00, 0.02)
    b = _cand("b", [0, 1], 1000, 1.05, 0.02)  # tied on latency with a (< 10%), more accurate
    c = _cand("c", [0, 1, 2, 3], 1000, 0.50, 0.02)  # clearly faster
    assert ties.best([a, b, c]).record.key == "c"  # type: ignore[union-attr]
    assert ties.best([a, b]).record.key == "b"  # type: ignore[union-attr]


def test_a_pick_lists_only_the_candidates_tied_with_it_at_least_as_accurate() -> None:
    # 'small' is wrong on 12 samples. 'twin' is wrong on the same 12 (equal accuracy, tied,
    # bigger); 'better' is right on all of them (significantly more accurate: not tied).
    small = _cand("small", list(range(12)), 1000, 0.5)
    twin = _cand("twin", list(range(12)), 2000, 0.5)
    better = _cand("better", [], 3000, 0.5)
    picks = {
        p.record.key: [r.key for r in p.tied] for p in select_picks([small, twin, better], Budget())
    }
    assert picks == {"small": ["twin"], "better": []}

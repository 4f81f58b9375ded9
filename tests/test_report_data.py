"""Pareto fronts, budget picks and table rows, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.data import (
    Cell,
    best_under,
    budget_picks,
    failure_groups,
    fp32_baselines,
    leaderboard_table,
    pareto_front,
    pareto_mask,
    rank,
    short_reason,
    stored_budgets,
)
from harness.specs import DEFAULT_BUDGETS
from harness.specs import BudgetSpec as Budget
from harness.store.results import CandidateRecord
from tests.helpers.records import record


def _record(
    i: int, acc: float | None, size: float | None, p50: float | None, **kw: str
) -> CandidateRecord:
    fields: dict[str, str] = {"compression": "int8", **kw}
    status = fields.pop("status", "ok")
    metrics = {"accuracy": acc, "file_bytes": size, "latency_p50_ms": p50}
    return record(f"k{i}", status=status, id=i, metrics=metrics, **fields)


def _random_records(rng: np.random.Generator, n: int) -> list[CandidateRecord]:
    # Few distinct values, so ties and duplicates are common.
    return [
        _record(
            i,
            float(rng.choice([0.90, 0.93, 0.95, 0.97])),
            float(rng.choice([8_000, 16_000, 16_384, 40_000, 70_000])),
            float(rng.choice([0.05, 0.1, 0.4, 1.0, 2.0])),
            compression=str(rng.choice(["fp32", "int8", "int4"])),
            runtime=str(rng.choice(["onnxruntime", "litert"])),
            status="failed" if rng.random() < 0.1 else "ok",
        )
        for i in range(n)
    ]


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pareto_mask_matches_brute_force(seed: int, dims: int) -> None:
    rng = np.random.default_rng(seed)
    costs = rng.integers(0, 6, size=(80, dims)).astype(float)
    expected = [not any(_dominates(other, row) for other in costs) for row in costs]
    assert pareto_mask(costs).tolist() == expected


def test_pareto_front_maximizes_accuracy_and_skips_failed_and_unmeasured() -> None:
    records = [
        _record(1, 0.95, 10_000, 0.1),
        _record(2, 0.97, 20_000, 0.1),  # more accurate, larger: on the front
        _record(3, 0.94, 20_000, 0.2),  # dominated by 1
        _record(4, 0.99, 5_000, 0.01, status="failed"),  # would dominate all; failed
        _record(5, 0.99, None, 0.01),  # unmeasured size
        _record(6, 0.95, 10_000, 0.1),  # a duplicate of 1: neither dominates the other
    ]
    assert [r.id for r in pareto_front(records)] == [1, 2, 6]
    # Without size, 5 (most accurate and fastest) beats everyone.
    assert [r.id for r in pareto_front(records, ("accuracy", "latency_p50_ms"))] == [5]


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_of_records_matches_brute_force(seed: int) -> None:
    records = _random_records(np.random.default_rng(seed), 60)
    ok = [r for r in records if r.status == "ok"]

    def point(r: CandidateRecord) -> np.ndarray:
        return np.array(
            [-(r.metric("accuracy") or 0), r.metric("file_bytes"), r.metric("latency_p50_ms")]
        )

    expected = {r.id for r in ok if not any(_dominates(point(o), point(r)) for o in ok)}
    assert {r.id for r in pareto_front(records)} == expected


@pytest.mark.parametrize("seed", range(5))
def test_budget_picks_match_brute_force(seed: int) -> None:
    records = _random_records(np.random.default_rng(seed), 60)
    for budget in (*DEFAULT_BUDGETS, Budget("tiny", "file_bytes", 1.0)):
        fits = [
            r for r in records
            if r.status == "ok" and r.metric(budget.metric) is not None
            and r.metric(budget.metric) <= budget.limit
        ]  # fmt: skip
        pick = best_under(records, budget)
        if not fits:
            assert pick is None
            continue
        best = max(r.metric("accuracy") or 0 for r in fits)
        assert pick is not None and pick.metric("accuracy") == best
        # Equal accuracy is a tie (these rows carry no intervals or per-sample results):
        # ties go to the smaller, then the faster.
        tied = [r for r in fits if r.metric("accuracy") == best]
        order = ("file_bytes", "latency_p50_ms")
        key = min(tuple(r.metric(m) for m in order) for r in tied)
        assert tuple(pick.metric(m) for m in order) == key


def test_budget_picks_carry_the_fp32_baseline_of_their_model_and_runtime() -> None:
    records = [
        _record(1, 0.97, 40_000, 0.5, compression="fp32", runtime="litert"),
        _record(2, 0.98, 40_000, 0.5, compression="fp32", runtime="litert", status="failed"),
        _record(3, 0.96, 12_000, 0.4, compression="int8", runtime="litert"),
        _record(4, 0.97, 40_000, 0.6, compression="fp32", runtime="onnxruntime"),
    ]
    assert {k: r.id for k, r in fp32_baselines(records).items()} == {
        ("cnn", "litert"): 1,
        ("cnn", "onnxruntime"): 4,
    }
    small = budget_picks(records, [Budget("file ≤ 16 KB", "file_bytes", 16 * 1024)])[0]
    assert small.pick is not None and small.pick.id == 3
    assert small.baseline is not None and small.baseline.id == 1


def test_leaderboard_rows_rank_measured_first_and_show_failures_with_reason() -> None:
    records = [
        _record(1, 0.95, 10_000, 0.1),
        _record(2, None, None, None, status="failed"),
        _record(3, 0.97, 20_000, 0.1),
    ]
    table = leaderboard_table(records, {3}, inline=True)
    models = [row.cells[1].href for row in table.rows]
    assert models == ["candidates/3.html", "candidates/1.html", "candidates/2.html"]
    assert [row.cells[0].text for row in table.rows] == ["★", "", ""]
    failed = table.rows[-1]
    assert failed.kind == "failed" and failed.cells[-1].note == "boom"
    assert failed.cells[5] == Cell("–", None)  # missing numbers sort last, not as zero
    assert table.filters[0].options == ("onnxruntime",)
    embedded = table.rows_json()
    strings, first = embedded["strings"], embedded["rows"][0]
    assert [strings[first[0]], strings[first[1]]] == ["ok", "★"]
    assert [strings[first[2][0]], first[2][1], first[2][2]] == ["cnn", None, "candidates/3.html"]


def test_compact_cells_drop_trailing_blanks() -> None:
    strings: dict[str, int] = {}

    def ref(text: str) -> int:
        return strings.setdefault(text, len(strings))

    assert Cell("x").compact(ref) == 0
    assert Cell("1.0 KB", 1024).compact(ref) == [1, 1024]
    assert Cell("m", href="a.html").compact(ref) == [2, None, "a.html"]
    assert Cell("x", note="why").compact(ref) == [0, None, None, 3]
    assert list(strings) == ["x", "1.0 KB", "m", "why"]


def test_mac_per_second_column_is_macs_times_batch_over_p50_with_its_share_of_the_peak() -> None:
    def rec(i: int, macs: float, p50: float, batch: int) -> CandidateRecord:
        return CandidateRecord(
            key=f"k{i}", dataset="shapes", model="resnet8", policy="none", compression="fp32",
            runtime="onnxruntime", status="ok", id=i,
            metrics={"accuracy": 0.9, "file_bytes": 1e5, "latency_p50_ms": p50, "macs": macs},
            details={"latency": {"batch": batch}},
        )  # fmt: skip

    records = [rec(1, 12_500_000, 0.25, 1), rec(2, 100_000, 0.01, 8), rec(3, 100_000, None, 1)]
    column = [c.label for c in leaderboard_table(records, set(), True).columns].index("MAC/s")
    # 12.5 M MACs in 0.25 ms = 50 G/s, half of a 100 G/s peak; 8 x 100 k in 10 us = 80 G/s
    table = leaderboard_table(records, set(), True, peak=100e9)
    cells = {row.cells[1].href: row.cells[column] for row in table.rows}
    assert cells["candidates/1.html"].text == "50.0 G (50%)"
    assert cells["candidates/1.html"].value == pytest.approx(50e9)
    assert cells["candidates/2.html"].text == "80.0 G (80%)"
    assert cells["candidates/3.html"].text == "–"
    without_peak = leaderboard_table(records, set(), True)
    texts = {row.cells[1].href: row.cells[column].text for row in without_peak.rows}
    assert texts["candidates/1.html"] == "50.0 G" and texts["candidates/2.html"] == "80.0 G"


def test_failures_are_grouped_by_reason_most_common_first() -> None:
    def failed(key: str, error: str | None) -> CandidateRecord:
        return CandidateRecord(
            key=key, dataset="d", model="m", policy="p", compression=key, runtime="litert",
            status="failed", error=error, metrics={},
        )  # fmt: skip

    records = [
        failed("a", "convert: unsupported on litert: Resize\nmore detail"),
        failed("b", "measure: worker timed out"),
        failed("c", "convert: unsupported on litert: Resize"),
        failed("d", None),
    ]
    groups = failure_groups(records)
    assert [(g.reason, [r.key for r in g.records]) for g in groups] == [
        ("convert: unsupported on litert: Resize", ["a", "c"]),
        ("measure: worker timed out", ["b"]),
        ("no reason recorded", ["d"]),
    ]


def test_a_long_reason_is_cut_for_its_cell() -> None:
    assert short_reason("x" * 90) == "x" * 90
    assert short_reason("x" * 91) == "x" * 89 + "…"
    assert short_reason("first\nsecond") == "first"
    assert short_reason(None) == short_reason("") == "no reason recorded"


def test_a_run_shows_the_budgets_its_config_asked_for_else_the_defaults() -> None:
    stored = {"budgets": [{"label": "file ≤ 8 KB", "metric": "file_bytes", "limit": 8192}]}
    assert stored_budgets(stored) == (Budget("file ≤ 8 KB", "file_bytes", 8192),)
    assert stored_budgets(None) == DEFAULT_BUDGETS  # a run stored before budgets existed
    assert stored_budgets({}) == DEFAULT_BUDGETS
    assert stored_budgets({"budgets": []}) == DEFAULT_BUDGETS


def test_the_most_common_reason_comes_first_even_when_it_sorts_last() -> None:
    records = [
        record("a", status="failed", error="worker timed out"),
        record("b", status="unsupported", error="convert: Resize"),
        record("c", status="ok"),  # measured: in no group
        record("d", status="failed", error="worker timed out"),
    ]
    groups = failure_groups(records)
    assert [(g.reason, [r.key for r in g.records]) for g in groups] == [
        ("worker timed out", ["a", "d"]),
        ("convert: Resize", ["b"]),
    ]


def test_a_model_that_is_always_wrong_ranks_last() -> None:
    records = [_record(1, 0.0, 100, 0.1), _record(2, 0.5, 200, 0.2), _record(3, 0.5, 100, 0.3)]
    assert [r.key for r in rank(records)] == ["k3", "k2", "k1"]  # then smaller, then faster

"""`select` and the report's budget picks exactly at, just inside and just outside each
limit: a candidate on the limit is within it."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.report.data import (
    best_under,
    budget_picks,
    fp32_baselines,
    rank,
)
from harness.report.select import (
    Budget,
    eligible,
    explain_none,
    parse_accuracy,
    parse_duration,
    parse_size,
    select,
)
from harness.specs import BudgetSpec as PageBudget
from harness.store.results import CandidateRecord
from tests.helpers.records import record


def _c(
    key: str, acc: float | None, size: float | None, p50: float | None, **kw: str
) -> CandidateRecord:
    return record(key, metrics={"accuracy": acc, "file_bytes": size, "latency_p50_ms": p50}, **kw)


@pytest.mark.parametrize(
    ("text", "value"),
    [("64KB", 65536.0), ("64 kib", 65536.0), ("1.5MB", 1.5 * 1024**2), ("2 MiB", 2 * 1024**2),
     ("20000", 20000.0), ("100b", 100.0)],
)  # fmt: skip
def test_sizes_are_read_in_1024_byte_units(text: str, value: float) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("1ms", 1.0), ("250us", 0.25), ("500µs", 0.5), ("0.002s", 2.0), ("3", 3.0)],
)
def test_durations_are_read_in_milliseconds(text: str, value: float) -> None:
    assert parse_duration(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "value"), [("0.97", 0.97), ("97%", 0.97), ("0", 0.0), ("1", 1.0), ("100%", 1.0)]
)
def test_accuracy_is_a_fraction_or_a_percentage(text: str, value: float) -> None:
    assert parse_accuracy(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text", ["1.01", "101%", "-0.1", "x"])
def test_accuracy_outside_zero_to_one_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=f"--min-accuracy: cannot read '{text}'"):
        parse_accuracy(text)


@pytest.mark.parametrize(("parse", "text"), [(parse_size, "64GB"), (parse_duration, "1min")])
def test_unknown_units_are_refused(parse, text: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=f"cannot read '{text}'"):
        parse(text)


# Sizes 1024 * k and latencies in 1/8 ms are exact in binary: the limit is hit exactly.
LIMITS = Budget(max_size=2048, max_p50=0.5, min_accuracy=0.75)


@pytest.mark.parametrize(
    ("acc", "size", "p50", "admitted"),
    [
        (0.75, 2048, 0.5, True),  # on every limit
        (0.7499, 2048, 0.5, False),
        (0.75, 2049, 0.5, False),
        (0.75, 2048, 0.5001, False),
        (0.76, 2047, 0.49, True),
    ],
)
def test_select_admits_a_candidate_on_the_limit(
    acc: float, size: float, p50: float, admitted: bool
) -> None:
    picked = select([_c("a", acc, size, p50)], LIMITS)
    assert [r.key for r in picked] == (["a"] if admitted else [])


def test_budget_labels_name_each_limit() -> None:
    assert LIMITS.limits() == [
        ("size <= 2 KB", "file_bytes", 2048),
        ("p50 <= 0.5 ms", "latency_p50_ms", 0.5),
        ("accuracy >= 0.75", "accuracy", 0.75),
    ]
    assert Budget().limits() == []


def test_select_keeps_the_front_best_first_and_only_the_asked_runtime() -> None:
    rows = [
        _c("big", 0.95, 2048, 0.5),
        _c("small", 0.90, 1024, 0.5),
        _c("dominated", 0.90, 1024, 0.625),
        _c("fast", 0.80, 1024, 0.125, runtime="litert"),
        _c("failed", 0.99, 10, 0.01, status="failed"),
        _c("unmeasured", 0.99, 10, None),
    ]
    assert [r.key for r in select(rows, Budget())] == ["big", "small", "fast"]
    assert [r.key for r in select(rows, Budget(runtime="litert"))] == ["fast"]
    assert [r.key for r in eligible(rows, Budget(runtime="onnxruntime"))] == [
        "big",
        "small",
        "dominated",
    ]


def test_explain_none_counts_each_limit_alone_and_the_best_reachable_value() -> None:
    rows = [
        _c("accurate", 0.96, 102_400, 0.25),  # too big: 100 KB (not 99.9: KB are 1024 B)
        _c("small", 0.80, 1024, 0.25),  # not accurate enough
        _c("slow", 0.97, 1536, 2.0),  # too slow
    ]
    budget = Budget(max_size=2048, max_p50=1.0, min_accuracy=0.95)
    assert select(rows, budget) == []
    assert explain_none(rows, budget) == [
        "size <= 2 KB: 2 of 3 candidates meet it alone; smallest under the other limits: "
        "100.0 KB <- binds: relaxing it alone admits a candidate",
        "p50 <= 1 ms: 2 of 3 candidates meet it alone; fastest under the other limits: "
        "2 ms <- binds: relaxing it alone admits a candidate",
        "accuracy >= 0.95: 2 of 3 candidates meet it alone; best under the other limits: "
        "0.8000 <- binds: relaxing it alone admits a candidate",
    ]


def test_explain_none_when_no_other_limit_can_be_met_either() -> None:
    rows = [_c("a", 0.5, 4096, 2.0)]
    budget = Budget(max_size=1024, max_p50=1.0)
    assert explain_none(rows, budget) == [
        "size <= 1 KB: 0 of 1 candidates meet it alone; nothing meets the other limits either",
        "p50 <= 1 ms: 0 of 1 candidates meet it alone; nothing meets the other limits either",
    ]
    assert explain_none(rows, Budget(runtime="litert")) == [
        "no measured candidate on litert in this run"
    ]
    assert explain_none([], Budget()) == ["no measured candidate in this run"]


# ---- the report's budget picks and ranking ---------------------------------------------------


def test_best_under_a_budget_admits_the_candidate_on_the_limit() -> None:
    budget = PageBudget("file ≤ 2 KB", "file_bytes", 2048)
    on, over = _c("on", 0.9, 2048, 1.0), _c("over", 0.95, 2049, 1.0)
    assert best_under([on, over], budget) is on
    assert best_under([over], budget) is None


def test_best_under_breaks_accuracy_ties_by_size_then_speed() -> None:
    p50 = PageBudget("p50 ≤ 1 ms", "latency_p50_ms", 1.0)
    a = _c("a", 0.9, 1024, 0.5)
    b = _c("b", 0.9, 512, 0.75)  # smaller, slower
    assert best_under([a, b], p50) is b  # tied on accuracy: the smaller, then the faster
    size = PageBudget("file ≤ 2 KB", "file_bytes", 2048)
    assert best_under([a, b], size) is b
    c = _c("c", 0.9, 512, 0.25)
    assert best_under([a, b, c], size) is c  # same size: the faster
    assert best_under([a, _c("d", 0.91, 2048, 1.0)], size).key == "d"  # accuracy first


def test_rank_is_accuracy_then_size_then_speed_and_drops_unmeasured() -> None:
    rows = [
        _c("slow", 0.9, 512, 0.75),
        _c("fast", 0.9, 512, 0.25),
        _c("big", 0.9, 1024, 0.125),
        _c("best", 0.95, 4096, 2.0),
        _c("noacc", None, 1, 0.1),
        _c("failed", 0.99, 1, 0.1, status="failed"),
    ]
    assert [r.key for r in rank(rows)] == ["best", "fast", "slow", "big"]


def test_budget_picks_pair_each_pick_with_the_fp32_of_its_model_and_runtime() -> None:
    rows = [
        _c("fp32-ort", 0.95, 40_000, 0.5, compression="fp32"),
        _c("fp32-ort-worse", 0.94, 40_000, 0.5, compression="fp32", policy="geometric"),
        _c("fp32-litert", 0.95, 40_000, 0.4, compression="fp32", runtime="litert"),
        _c("int8-litert", 0.94, 10_000, 0.3, compression="int8", runtime="litert"),
    ]
    baselines = fp32_baselines(rows)
    assert {k: r.key for k, r in baselines.items()} == {
        ("cnn", "litert"): "fp32-litert",
        ("cnn", "onnxruntime"): "fp32-ort",
    }
    picks = budget_picks(rows, (PageBudget("file ≤ 16 KB", "file_bytes", 16 * 1024),
                                PageBudget("p50 ≤ 0.1 ms", "latency_p50_ms", 0.1)))  # fmt: skip
    assert (picks[0].pick.key, picks[0].baseline.key) == ("int8-litert", "fp32-litert")
    assert (picks[1].pick, picks[1].baseline) == (None, None)


def test_a_missing_metric_ranks_after_a_measured_one_in_a_tie() -> None:
    budget = PageBudget("file ≤ 2 KB", "file_bytes", 2048)
    unmeasured, measured = _c("u", 0.9, 1024, None), _c("m", 0.9, 1024, 1.0)
    assert best_under([unmeasured, measured], budget) is measured
    picks = budget_picks([unmeasured, measured], (budget,))
    assert picks[0].budget is budget and picks[0].pick is measured

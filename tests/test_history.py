"""History series: regressions against thresholds, latency only on the same machine."""

from __future__ import annotations

from harness.report.history import (
    HistoryPoint,
    SeriesLabel,
    find_regressions,
    history_series,
    scan,
)


def QUIET(a: int, b: int) -> float:  # noqa: N802 - a constant-like noise estimate
    return 0.01


def _points(*rows: tuple[str, str, float | None, float | None, float | None]) -> list[HistoryPoint]:
    return [HistoryPoint(i + 1, m, s, a, f, p) for i, (m, s, a, f, p) in enumerate(rows)]


def test_regressions_follow_the_thresholds() -> None:
    points = _points(
        ("A", "ok", 0.970, 1000, 1.00),
        ("A", "ok", 0.966, 1000, 1.09),  # -0.4 pt, +9%: within tolerance
        ("A", "ok", 0.966, 1000, 1.09),  # unchanged
        ("A", "ok", 0.960, 1001, 1.21),  # -0.6 pt, +1 byte, +11%
        ("A", "failed", None, None, None),  # failed after working
        ("A", "failed", None, None, None),  # still failing: reported once
        ("A", "ok", 0.960, 1001, 1.21),  # compared with run 3, not the failed runs
    )
    # Measured noise of sd 0.01 (a band of e^0.03 - 1 = 3%): the 10% threshold decides.
    found = [(r.run_id, r.metric) for r in find_regressions(points, "A", QUIET)]
    assert found == [(4, "accuracy"), (4, "file_bytes"), (4, "latency_p50_ms"), (5, "status")]
    # Without any noise estimate (a store without rounds or unchanged files) the +11% is
    # inconclusive rather than a regression.
    regressions, unsure = scan(points, "A")
    assert (4, "latency_p50_ms") not in [(r.run_id, r.metric) for r in regressions]
    assert [(r.run_id, r.text) for r in unsure] == [(4, "p50 +11.0% (inconclusive: noise unknown)")]


def test_a_change_of_exactly_the_threshold_is_no_regression() -> None:
    points = _points(("A", "ok", 0.97, 1000, 1.0), ("A", "ok", 0.965, 1000, 1.1))
    assert find_regressions(points, "A") == []


def test_latency_is_compared_only_on_the_reference_machine() -> None:
    points = _points(
        ("A", "ok", 0.97, 1000, 1.00),
        ("B", "ok", 0.97, 1000, 5.00),  # another machine: neither a regression nor a base
        ("A", "ok", 0.97, 1000, 1.05),
        ("A", "ok", 0.97, 1000, 1.20),  # +14% against run 3
    )
    assert [(r.run_id, r.metric) for r in find_regressions(points, "A", QUIET)] == [
        (4, "latency_p50_ms")
    ]
    assert find_regressions(points, "B", QUIET) == []


def test_series_regressed_in_their_latest_run_come_first() -> None:
    def label(key: str) -> SeriesLabel:
        return SeriesLabel(key, "cnn", "none", "int8", "litert")

    steady = _points(("A", "ok", 0.99, 1000, 1.0), ("A", "ok", 0.99, 1000, 1.0))
    old_drop = _points(
        ("A", "ok", 0.99, 1000, 1.0), ("A", "ok", 0.90, 1000, 1.0), ("A", "ok", 0.90, 1000, 1.0)
    )
    new_drop = _points(("A", "ok", 0.95, 1000, 1.0), ("A", "ok", 0.93, 1000, 1.0))
    series = history_series({label("s"): steady, label("o"): old_drop, label("n"): new_drop}, "A")
    assert [s.label.key for s in series] == ["n", "o", "s"]
    assert [r.text for r in series[0].latest_regressions()] == ["accuracy −2.0 pt"]
    assert series[1].latest_regressions() == ()

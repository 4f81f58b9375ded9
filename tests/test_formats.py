"""The number formats the pages, tables and terminal share."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.report.formats import (
    fmt_acc_ci,
    fmt_change,
    fmt_delta_pt,
    fmt_int,
    fmt_kb,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    fmt_sci,
    fmt_seconds,
    fmt_si,
    fmt_spec,
    fmt_time,
    operator_rows,
    status_counts,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.012345, "0.0123 ms"), (0.09996, "0.100 ms"), (1.234, "1.23 ms"), (123.4, "123 ms"),
     (1234.5, "1,230 ms"), (0.0, "0 ms"), (None, "–")],
)  # fmt: skip
def test_milliseconds_have_three_significant_digits(value: float | None, text: str) -> None:
    assert fmt_ms(value) == text


def test_formats() -> None:
    assert fmt_kb(12_595) == "12.3 KB"
    assert fmt_kb(5_242_880) == "5,120.0 KB"
    assert fmt_acc_ci(0.9722, 0.9561, 0.9834) == "97.2% [95.6, 98.3]"
    assert fmt_acc_ci(0.9722, None, None) == "97.2%"
    assert fmt_si(151_296) == "151 k" and fmt_si(1_234_567) == "1.23 M" and fmt_si(12) == "12"
    assert fmt_delta_pt(-0.012) == "−1.2 pt" and fmt_delta_pt(0.004) == "+0.4 pt"
    assert fmt_change(1.0, 1.474) == "+47.4%" and fmt_change(0, 1) == "–"
    assert fmt_ratio(40_000, 10_000, "smaller", "larger") == "4.0× smaller"
    assert fmt_ratio(1.0, 1.3, "faster", "slower") == "1.3× slower"
    assert fmt_time("2026-01-03T09:30:00+01:00") == "2026-01-03 08:30 UTC"
    assert fmt_time("yesterday") == "yesterday"


# ---- printed percentages and boundaries: the base of each figure is checked -----------------


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.9722, "97.2%"), (0.5, "50.0%"), (1.0, "100.0%"), (0.0, "0.0%"), (0.00049, "0.0%"),
     (0.00051, "0.1%"), (None, "–")],
)  # fmt: skip
def test_percentages_are_fractions_times_one_hundred(fraction: float | None, text: str) -> None:
    assert fmt_pct(fraction) == text


def test_relative_change_is_against_the_earlier_value() -> None:
    assert fmt_change(4.0, 5.0) == "+25.0%"  # against 5 it would read +20.0%
    assert fmt_change(5.0, 4.0) == "−20.0%"  # against 4 it would read −25.0%
    assert fmt_change(2.0, 2.0) == "+0.0%"
    assert fmt_change(None, 1.0) == fmt_change(1.0, None) == "–"


def test_accuracy_interval_prints_each_bound_as_a_percentage() -> None:
    assert fmt_acc_ci(0.75, 0.5, 0.875) == "75.0% [50.0, 87.5]"
    assert fmt_acc_ci(None, 0.5, 0.9) == "–"
    assert fmt_acc_ci(0.75, 0.5, None) == "75.0%"


def test_points_are_hundredths_signed_with_a_true_minus() -> None:
    assert fmt_delta_pt(-0.25) == "−25.0 pt"
    assert fmt_delta_pt(0.0) == "+0.0 pt"
    assert fmt_delta_pt(None) == "–"


def test_ratios_divide_the_larger_by_the_smaller() -> None:
    assert fmt_ratio(10.0, 40.0, "smaller", "larger") == "4.0× larger"
    assert fmt_ratio(40.0, 40.0, "smaller", "larger") == "1.0× smaller"
    assert fmt_ratio(0, 40.0, "smaller", "larger") == "–"
    assert fmt_ratio(40.0, None, "smaller", "larger") == "–"


@pytest.mark.parametrize(
    ("n", "text"),
    [(999, "999"), (1000, "1.00 k"), (999_499, "999 k"), (1_000_000, "1.00 M"),
     (2_500_000_000, "2.50 G"), (-1500, "-1.50 k"), (None, "–")],
)  # fmt: skip
def test_counts_switch_unit_at_each_thousand(n: float | None, text: str) -> None:
    assert fmt_si(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(59.9, "59.9 s"), (60, "1 min 0 s"), (125.4, "2 min 5 s"), (0.0421, "0.0421 s"),
     (None, "–")],
)  # fmt: skip
def test_durations_switch_to_minutes_at_sixty_seconds(seconds: float | None, text: str) -> None:
    assert fmt_seconds(seconds) == text


def test_plain_numbers() -> None:
    assert fmt_kb(1024) == "1.0 KB" and fmt_kb(None) == "–"
    assert fmt_int(1234567.6) == "1,234,568" and fmt_int(None) == "–"
    assert fmt_sci(2.3812e-06) == "2.38e-06" and fmt_sci(None) == "–"
    assert fmt_ms(float("inf")) == "inf ms" and fmt_ms(-0.5) == "-0.500 ms"
    assert fmt_time(None) == "–" and fmt_time("2026-01-03T09:30:00") == "2026-01-03 09:30 UTC"


def test_settings_print_sorted_and_nested() -> None:
    assert fmt_spec({"pass": "quantize", "bits": 8}) == "bits=8, pass=quantize"
    assert fmt_spec([{"pass": "prune", "ratio": 0.5}, {"pass": "svd"}]) == (
        "pass=prune, ratio=0.5; pass=svd"
    )
    assert fmt_spec([]) == fmt_spec({}) == "none"
    assert fmt_spec({"layers": ("conv", "dense")}) == "layers=conv; dense"


def test_a_billion_is_one_g() -> None:
    assert fmt_si(1_000_000_000) == "1.00 G" and fmt_si(999_999_999) == "1,000 M"
    assert fmt_si(1_000_000) == "1.00 M" and fmt_si(999_999) == "1,000 k"


def test_times_are_shown_in_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert fmt_time("2026-01-03T09:30:00+01:00") == "2026-01-03 08:30 UTC"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_operator_row_shows_its_mean_and_share_of_the_time() -> None:
    profile = [{"op": "aten.conv2d", "backend": "XnnpackBackend", "mean_ms": 0.01234,
                "share": 0.4567, "batch": 1},
               {}]  # fmt: skip
    assert operator_rows(profile) == [
        {"op": "aten.conv2d", "backend": "XnnpackBackend", "mean": "0.0123 ms",
         "share": "45.7%", "batch": 1},
        {"op": "", "backend": "", "mean": "–", "share": "–", "batch": None},
    ]  # fmt: skip


def test_status_counts_separate_unsupported_from_failed() -> None:
    records = [SimpleNamespace(status=s) for s in
               ("ok", "ok", "ok", "failed", "unsupported", "unsupported", "failed", "failed")]  # fmt: skip
    assert status_counts(records, ok=3) == {"total": 8, "ok": 3, "unsupported": 2, "failed": 3}
    assert status_counts([], ok=0) == {"total": 0, "ok": 0, "unsupported": 0, "failed": 0}

"""The number formats the pages, tables and terminal share."""

from __future__ import annotations

import pytest

from harness.report.formats import (
    fmt_acc_ci,
    fmt_change,
    fmt_delta_pt,
    fmt_kb,
    fmt_ms,
    fmt_ratio,
    fmt_si,
    fmt_time,
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

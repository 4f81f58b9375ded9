"""Chart scaling rules with hand-computed answers: bulk ranges, units, log ticks, colours."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.report.axes import (
    RUNTIME_COLORS,
    SPARE_COLORS,
    SPARE_SYMBOLS,
    bulk_range,
    family_symbol,
    log_ticks,
    quartiles,
    runtime_color,
    time_unit,
)


def test_one_far_outlier_leaves_the_range_and_the_rest_fill_it() -> None:
    # Q1 = 96.25, Q3 = 97.875, IQR = 1.625: the lower fence is 96.25 - 3 x 1.625 = 91.375.
    r = bulk_range([30.0, 96.0, 97.0, 97.5, 98.0, 99.0], min_span=2.0)
    assert r.low == pytest.approx(96.0 - 0.08 * 3.0)
    assert r.high == pytest.approx(99.0 + 0.08 * 3.0)
    assert r.clip(30.0) == (pytest.approx(r.low), True)
    assert r.clip(97.0) == (97.0, False)


def test_a_wide_but_real_spread_is_kept_whole() -> None:
    values = [80.0, 85.0, 90.0, 95.0, 99.0]
    r = bulk_range(values, min_span=2.0)
    assert r.low == pytest.approx(80.0 - 0.08 * 19.0)
    assert r.high == pytest.approx(99.0 + 0.08 * 19.0)


def test_equal_values_get_the_minimum_span_and_no_outliers() -> None:
    r = bulk_range([97.0, 97.0, 97.0, 97.0, 96.5], min_span=2.0)
    # A zero IQR is widened to min_span / 6 = 1/3, so 96.5 stays inside (fence 96.0).
    assert r.clip(96.5) == (96.5, False)
    assert r.low == pytest.approx(95.75 - 0.16)
    assert r.high == pytest.approx(97.75 + 0.16)


def test_log_ranges_are_in_decades() -> None:
    r = bulk_range([10.0, 100.0, 1000.0], log=True)
    assert (r.low, r.high) == (pytest.approx(1 - 0.16), pytest.approx(3 + 0.16))
    assert r.clip(100.0) == (100.0, False)
    assert r.clip(1e9)[1] is True


@pytest.mark.parametrize(
    ("values_ms", "unit", "factor"),
    [
        ([0.007, 0.02, 0.028], "µs", 1000.0),
        ([0.2, 0.999, 3.0], "µs", 1000.0),  # median 0.999 ms: still microseconds
        ([1.0, 2.0], "ms", 1.0),
        ([999.0], "ms", 1.0),
        ([1000.0, 4000.0], "s", 0.001),
    ],
)
def test_time_unit_follows_the_median(values_ms: list[float], unit: str, factor: float) -> None:
    chosen = time_unit(values_ms)
    assert (chosen.name, chosen.per_ms) == (unit, factor)


def test_log_ticks_are_plain_1_2_5_numbers() -> None:
    assert log_ticks(4.0, 130.0) == ([5.0, 10.0, 20.0, 50.0, 100.0], ["5", "10", "20", "50", "100"])
    assert log_ticks(0.004, 0.03)[1] == ["0.005", "0.01", "0.02"]


def test_log_ticks_go_finer_inside_one_decade_and_coarser_over_many() -> None:
    assert log_ticks(2.5, 9.0)[0] == [3.0, 4.0, 5.0, 6.0, 8.0]
    assert log_ticks(1.0, 1e6)[0] == [10.0**e for e in range(7)]
    assert log_ticks(0.0, 1.0) == ([], [])


def test_colours_and_symbols_are_keyed_by_name() -> None:
    assert runtime_color("onnxruntime") == RUNTIME_COLORS["onnxruntime"]
    assert runtime_color("litert") == "#ea580c"
    other = runtime_color("litert int8")
    assert other in SPARE_COLORS and other == runtime_color("litert int8")
    assert family_symbol("fp32") == "circle" and family_symbol("INT8") == "square"
    assert family_symbol("mystery") == family_symbol("mystery")
    assert family_symbol("mystery") in SPARE_SYMBOLS


def test_quartiles_by_hand() -> None:
    # (n - 1) x q = 1.25, 2.5, 3.75 between the sorted values 1, 2, 4, 8, 16
    assert quartiles([16.0, 1.0, 8.0, 2.0, 4.0]) == (2.0, 4.0, 8.0)
    assert quartiles([1.0, 2.0, 4.0, 8.0]) == (1.75, 3.0, 5.0)
    assert quartiles([0.5]) == (0.5, 0.5, 0.5)


@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 60),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64)
        | st.sampled_from([0.1, 0.1, 1e-300, 3.0]),  # ties and tiny values
    )
)
@settings(max_examples=300, deadline=None)
def test_quartiles_are_numpys_percentiles_to_the_bit(values: np.ndarray) -> None:
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, as numpy meets it
        expected = np.percentile(values, [25, 50, 75])
        found = np.array(quartiles(values))
    same_bits = found.view(np.int64) == expected.view(np.int64)
    assert (same_bits | (np.isnan(found) & np.isnan(expected))).all(), (found, expected)

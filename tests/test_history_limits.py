"""History regressions exactly at, just below and just above each threshold, and the
texts and table cells they print."""

from __future__ import annotations

import math

import pytest

from harness.report.data import history_table
from harness.report.history import (
    ACCURACY_DROP,
    LATENCY_RISE,
    HistoryPoint,
    Regression,
    SeriesLabel,
    find_regressions,
    history_series,
    run_pair_noise,
)


def TINY_NOISE(before_run: int, after_run: int) -> float:
    return 0.001


def _pair(
    before: tuple, after: tuple, machines: tuple[str, str] = ("A", "A")
) -> list[HistoryPoint]:
    return [HistoryPoint(1, machines[0], "ok", *before), HistoryPoint(2, machines[1], "ok", *after)]


@pytest.mark.parametrize(
    ("acc_after", "regressed"),
    [(0.965, False), (0.96499, True), (0.96501, False), (0.97, False), (0.98, False)],
)
def test_accuracy_drop_of_half_a_point(acc_after: float, regressed: bool) -> None:
    found = find_regressions(_pair((0.97, 1000, 1.0), (acc_after, 1000, 1.0)), "A")
    assert [r.metric for r in found] == (["accuracy"] if regressed else [])


@pytest.mark.parametrize(("size_after", "regressed"), [(1000, False), (1001, True), (999, False)])
def test_any_file_growth_is_a_regression(size_after: int, regressed: bool) -> None:
    found = find_regressions(_pair((0.97, 1000, 1.0), (0.97, size_after, 1.0)), "A")
    assert [r.metric for r in found] == (["file_bytes"] if regressed else [])


@pytest.mark.parametrize(
    ("p50_after", "regressed"), [(2.2, False), (2.2001, True), (2.1999, False), (1.0, False)]
)
def test_p50_rise_of_ten_percent(p50_after: float, regressed: bool) -> None:
    # A noise band of 0.3% (Z x 0.001 on the log scale): the 10% threshold decides.
    found = find_regressions(_pair((0.97, 1000, 2.0), (0.97, 1000, p50_after)), "A", TINY_NOISE)
    assert [r.metric for r in found] == (["latency_p50_ms"] if regressed else [])


def test_thresholds_are_the_documented_ones() -> None:
    assert (ACCURACY_DROP, LATENCY_RISE) == (0.005, 0.10)


def test_latency_against_the_last_run_on_the_same_machine_only() -> None:
    points = [
        HistoryPoint(1, "A", "ok", 0.97, 1000, 1.0),
        HistoryPoint(2, "B", "ok", 0.97, 1000, 1.5),
        HistoryPoint(3, "A", "ok", 0.97, 1000, 1.05),
    ]
    assert find_regressions(points, "A") == []
    assert find_regressions(points, "B") == []  # one run on B: nothing to compare with
    # Accuracy and size compare with the previous run on any machine.
    points.append(HistoryPoint(4, "B", "ok", 0.96, 1001, 9.0))
    assert find_regressions(points, "A") == [
        Regression(4, "accuracy", 0.97, 0.96),
        Regression(4, "file_bytes", 1000, 1001),
    ]
    assert find_regressions(points, "B", TINY_NOISE)[-1] == Regression(
        4, "latency_p50_ms", 1.5, 9.0
    )
    # Without any estimate of the noise, a latency rise is not called a regression.
    assert find_regressions(points, "B")[-1] == Regression(4, "file_bytes", 1000, 1001)


def test_a_failure_is_reported_once_and_a_recovery_compares_with_the_last_success() -> None:
    points = [
        HistoryPoint(1, "A", "failed", None, None, None),  # failing from the start: no regression
        HistoryPoint(2, "A", "ok", 0.97, 1000, 1.0),
        HistoryPoint(3, "A", "failed", None, None, None),
        HistoryPoint(4, "A", "failed", None, None, None),
        HistoryPoint(5, "A", "ok", 0.95, 1000, 1.0),
    ]
    assert find_regressions(points, "A") == [
        Regression(3, "status", None, None),
        Regression(5, "accuracy", 0.97, 0.95),
    ]


def test_a_missing_value_is_no_regression() -> None:
    assert find_regressions(_pair((None, None, None), (0.5, 2000, 9.0)), "A") == []
    assert find_regressions(_pair((0.97, 1000, 1.0), (None, None, None)), "A") == []


def test_regression_texts() -> None:
    assert Regression(2, "accuracy", 0.97, 0.955).text == "accuracy −1.5 pt"
    assert Regression(2, "file_bytes", 1000, 1030).text == "file size +3.0%"
    assert Regression(2, "latency_p50_ms", 2.0, 2.25).text == "p50 +12.5%"
    assert Regression(2, "status", None, None).text == "failed (was ok)"


def _label(key: str) -> SeriesLabel:
    return SeriesLabel(key, "cnn", "none", key, "onnxruntime")


def test_series_order_latest_regression_then_any_regression_then_accuracy() -> None:
    ok = HistoryPoint(1, "A", "ok", 0.9, 1000, 1.0)
    series = history_series(
        {
            _label("a-low"): [ok, ok._replace(run_id=2)],
            _label("b-failing"): [ok._replace(status="failed", accuracy=None)],
            _label("old-regression"): [ok, ok._replace(run_id=2, file_bytes=2000),
                                       ok._replace(run_id=3, file_bytes=2000)],
            _label("latest"): [ok, ok._replace(run_id=2, accuracy=0.5)],
            _label("z-high"): [ok._replace(accuracy=0.95)],
            _label("empty"): [],
        },
        "A",
    )  # fmt: skip
    # Among series with no regression: more accurate first, a failing one (no accuracy) last.
    assert [s.label.key for s in series] == [
        "latest", "old-regression", "z-high", "a-low", "b-failing",
    ]  # fmt: skip
    assert series[0].latest_regressions() == (Regression(2, "accuracy", 0.9, 0.5),)
    assert series[1].latest_regressions() == ()


def test_history_row_shows_the_changes_since_the_previous_run() -> None:
    points = [
        HistoryPoint(1, "A", "ok", 0.97, 1000, 2.0),
        HistoryPoint(2, "B", "ok", 0.96, 1000, 7.0),
        HistoryPoint(3, "A", "failed", None, None, None),
        HistoryPoint(4, "A", "ok", 0.955, 1024, 2.5),
    ]
    (series,) = history_series({_label("k"): points}, "A")
    table = history_table([series], {"k": "candidates/9.html"}, "A", inline=True)
    (row,) = table.rows
    assert [c.text for c in row.cells] == [
        "cnn", "none", "k", "onnxruntime", "4", "95.5%", "−0.5 pt", "1.0 KB", "+24 B",
        "2.50 ms", "+25.0%", "yes", "file size +2.4%; p50 +25.0% (inconclusive: noise unknown)",
    ]  # fmt: skip
    assert [c.value for c in row.cells][4:11] == [4, 0.955, -0.005, 1024, 24, 2.5, 0.25]
    assert row.cells[0].href == "candidates/9.html" and row.kind == "regressed"


def test_history_rows_without_a_previous_run_or_without_a_success() -> None:
    single = [HistoryPoint(1, "A", "ok", 0.9, 2048, 1.5)]
    failing = [HistoryPoint(1, "A", "failed", None, None, None)]
    shrinking = [
        HistoryPoint(1, "A", "ok", 0.9, 2048, 1.0),
        HistoryPoint(2, "B", "ok", 0.91, 1024, 9.0),  # timed on another machine only
    ]
    series = history_series(
        {_label("single"): single, _label("failing"): failing, _label("shrinking"): shrinking},
        "A",
    )
    table = history_table(series, {}, "A", inline=False)
    rows = {row.cells[2].text: row for row in table.rows}
    assert [c.text for c in rows["single"].cells[4:]] == [
        "1", "90.0%", "–", "2.0 KB", "–", "1.50 ms", "–", "no", "",
    ]  # fmt: skip
    assert [c.value for c in rows["single"].cells[4:11]] == [1, 0.9, None, 2048, None, 1.5, None]
    assert rows["single"].kind == "ok" and rows["single"].cells[0].href is None
    assert [c.text for c in rows["failing"].cells[4:]] == [
        "1", "–", "–", "–", "–", "–", "–", "no", "",
    ]  # fmt: skip
    assert rows["failing"].kind == "failed"
    assert [c.text for c in rows["shrinking"].cells[4:]] == [
        "2", "91.0%", "+1.0 pt", "1.0 KB", "−1,024 B", "1.00 ms", "–", "no", "",
    ]  # fmt: skip
    assert rows["shrinking"].cells[8].value == -1024 and rows["shrinking"].kind == "ok"
    assert (table.id, table.inline) == ("history", False)
    assert [(f.label, f.column, f.options) for f in table.filters] == [
        ("runtime", 3, ("onnxruntime",)),
        ("regressed", 11, ("no",)),
    ]
    assert len(table.columns) == 13


def test_a_recovered_series_compares_with_its_last_success() -> None:
    points = [
        HistoryPoint(1, "A", "ok", 0.9, 1000, 2.0),
        HistoryPoint(2, "A", "failed", None, None, None),
        HistoryPoint(3, "A", "ok", 0.92, 1000, 1.0),
    ]
    (row,) = history_table(history_series({_label("k"): points}, "A"), {}, "A", True).rows
    assert [c.text for c in row.cells[4:11]] == [
        "3",
        "92.0%",
        "+2.0 pt",
        "1.0 KB",
        "+0 B",
        "1.00 ms",
        "−50.0%",
    ]
    assert row.kind == "ok" and row.cells[11].text == "no"


def test_history_row_of_an_inconclusive_rise_and_of_a_series_ending_in_a_failure() -> None:
    rising = [
        HistoryPoint(1, "A", "ok", 0.9, 1000, 1.0),
        HistoryPoint(2, "A", "ok", 0.9, 1000, 1.2),
        HistoryPoint(3, "A", "ok", 0.9, 1000, 1.5),  # +25% on run 2, noise unknown
    ]
    ending_failed = [
        HistoryPoint(1, "A", "ok", 0.9, 1000, 1.0),
        HistoryPoint(2, "A", "failed", None, None, None),
    ]
    series = history_series({_label("rising"): rising, _label("ending"): ending_failed}, "A")
    rows = {row.cells[2].text: row for row in history_table(series, {}, "A", False).rows}
    assert [c.text for c in rows["rising"].cells[4:]] == [
        "3", "90.0%", "+0.0 pt", "1.0 KB", "+0 B", "1.50 ms", "+25.0%", "inconclusive",
        "p50 +25.0% (inconclusive: noise unknown)",
    ]  # fmt: skip
    assert rows["rising"].kind == "ok"
    # The latest success's values, and the failure after it as a regression.
    assert [c.text for c in rows["ending"].cells[4:]] == [
        "2", "90.0%", "–", "1.0 KB", "–", "1.00 ms", "–", "yes", "failed (was ok)",
    ]  # fmt: skip
    assert rows["ending"].kind == "regressed"


def test_history_row_of_a_model_measured_but_not_scored_has_no_accuracy_change() -> None:
    unscored = [
        HistoryPoint(1, "A", "ok", None, 1000, 1.0),
        HistoryPoint(2, "A", "ok", None, 1000, 1.0),
    ]
    (series,) = history_series({_label("det"): unscored}, "A")
    (row,) = history_table([series], {}, "A", False).rows
    assert [c.text for c in row.cells[4:8]] == ["2", "–", "–", "1.0 KB"]
    assert [c.value for c in row.cells[4:8]] == [2, None, None, 1000]


def test_run_pair_noise_is_that_pairs_own_when_it_has_three_else_the_runtimes() -> None:
    def series(p50s: list[float], shas: list[str], machine: str = "A") -> list[HistoryPoint]:
        return [HistoryPoint(i + 1, machine, "ok", 0.9, 1000, p, sha, "v1")
                for i, (p, sha) in enumerate(zip(p50s, shas, strict=True))]  # fmt: skip

    e = math.exp
    points = {
        # Runs 1 -> 2: three same-file changes (ln 0.1, 0.2, 0.3), exactly MIN_PAIRS.
        # Runs 2 -> 3: one (ln 0.4), too few: the runtime's four changes decide.
        _label("k1"): series([1.0, e(0.1), 5.0], ["s", "s", "t"]),
        _label("k2"): series([1.0, e(0.2), 5.0], ["s", "s", "t"]),
        _label("k3"): series([1.0, e(0.3), e(0.3) * e(0.4)], ["s", "s", "s"]),
        # Another machine's runs and a failed run are no samples of this machine's noise.
        _label("k4"): series([1.0, 2.0, 4.0], ["s", "s", "s"], machine="B"),
        _label("k5"): [
            HistoryPoint(1, "A", "ok", 0.9, 1000, 1.0, "s", "v1"),
            HistoryPoint(2, "A", "failed", None, None, None, None, None),
            HistoryPoint(3, "A", "ok", 0.9, 1000, 1.0, "s", "v1"),
        ],  # fmt: skip
    }
    noise_of = run_pair_noise(points, "A")("onnxruntime")
    assert noise_of(1, 2) == pytest.approx(math.sqrt((0.01 + 0.04 + 0.09) / 3))
    # k5's 1 -> 3 pair (ln 1 = 0) counts towards the runtime's changes, not run 2 -> 3's.
    assert noise_of(2, 3) == pytest.approx(math.sqrt((0.01 + 0.04 + 0.09 + 0.16 + 0) / 5))
    assert run_pair_noise(points, "A")("litert")(1, 2) is None  # no changes on that runtime

"""Every cell of the leaderboard: the printed text and the sort value of each number."""

from __future__ import annotations

from harness.report.data import (
    LEADERBOARD_COLUMNS,
    Cell,
    Table,
    compression_family,
    leaderboard_table,
)
from tests.helpers.records import record

FULL = {
    "accuracy": 0.9722, "accuracy_low": 0.9561, "accuracy_high": 0.9834, "robust_accuracy": 0.875,
    "file_bytes": 12_595, "compressed_bytes": 10_240, "params": 11_234, "macs": 151_296,
    "latency_p50_ms": 0.0421, "latency_p90_ms": 0.05, "latency_p99_ms": 0.07,
}  # fmt: skip


def test_a_measured_row_prints_every_metric_and_sorts_by_its_value() -> None:
    r = record("a", metrics=FULL, compression="int8", policy="geometric", id=7)
    (row,) = leaderboard_table([r], {7}, inline=True).rows
    assert [c.text for c in row.cells] == [
        "★", "cnn", "geometric", "int8", "onnxruntime", "97.2% [95.6, 98.3]", "87.5%",
        "12.3 KB", "10.0 KB", "11,234", "151 k", "0.0421 ms", "0.0500 ms", "ok",
    ]  # fmt: skip
    assert [c.value for c in row.cells] == [
        None, None, None, None, None, 0.9722, 0.875, 12595, 10240, 11234, 151296, 0.0421, 0.05,
        None,
    ]  # fmt: skip
    assert row.cells[1].href == "candidates/7.html" and row.kind == "ok"
    assert row.cells[13].note is None
    assert len(row.cells) == len(LEADERBOARD_COLUMNS)


def test_sort_values_are_rounded_to_six_decimals_and_whole_numbers_are_ints() -> None:
    metrics = {**FULL, "accuracy": 0.123456789, "file_bytes": 2048.0, "macs": float("inf")}
    (row,) = leaderboard_table([record("a", metrics=metrics, id=1)], set(), inline=True).rows
    assert row.cells[5].value == 0.123457
    assert row.cells[7].value == 2048 and isinstance(row.cells[7].value, int)
    assert row.cells[10].value is None  # not finite: sorts last, as missing
    assert row.cells[0].text == ""


def test_failed_rows_follow_the_ranked_ones_with_their_reason() -> None:
    rows = [
        record("f", status="failed", error="out of memory", id=1, runtime="litert"),
        record("b", metrics={**FULL, "accuracy": 0.5}, id=2),
        record("a", metrics=FULL, id=3),
    ]
    table = leaderboard_table(rows, set(), inline=False)
    assert [r.cells[1].href for r in table.rows] == [
        "candidates/3.html",
        "candidates/2.html",
        "candidates/1.html",
    ]
    failed = table.rows[2]
    assert failed.kind == "failed" and failed.cells[13] == Cell("failed", note="out of memory")
    assert [c.text for c in failed.cells[5:13]] == ["–"] * 8
    assert [(f.label, f.column, f.options) for f in table.filters] == [
        ("runtime", 4, ("litert", "onnxruntime")),
        ("status", 13, ("failed", "ok")),
    ]
    assert table.id == "leaderboard" and table.inline is False and table.page_size == 500


def test_rows_json_shares_repeated_strings() -> None:
    table = Table(
        "t",
        (),
        (
            leaderboard_table([record("a", metrics=FULL, id=1)], {1}, True).rows[0],
            leaderboard_table([record("b", metrics=FULL, id=2)], set(), True).rows[0],
        ),
    )
    data = table.rows_json()
    strings, rows = data["strings"], data["rows"]
    assert strings[rows[0][0]] == "ok" and rows[1][0] == rows[0][0]
    assert strings.count("cnn") == 1 and strings.count("97.2% [95.6, 98.3]") == 1
    assert rows[0][6] == [strings.index("97.2% [95.6, 98.3]"), 0.9722]


def test_compression_family_is_the_first_word() -> None:
    assert compression_family("prune 50% + int8") == "prune"
    assert compression_family("fp32") == "fp32"
    assert compression_family("") == ""


def test_the_table_carries_its_columns_and_an_ok_row_shows_no_error_note() -> None:
    ok = record("a", metrics=FULL, id=1, error="a leftover message")
    table = leaderboard_table([ok], set(), inline=True)
    assert table.columns == LEADERBOARD_COLUMNS
    assert table.rows[0].cells[13] == Cell("ok")

"""`compare` thresholds exactly at, just below and just above each limit, on values that
are exact in binary floating point (so the limit itself is hit, not a neighbour)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.report.compare import (
    NoiseInputs,
    Threshold,
    compare_runs,
    parse_thresholds,
)
from harness.report.noise import Z
from harness.store.results import CandidateRecord, Run
from tests.helpers.records import record


def _run(machine: str = "m") -> Run:
    return Run(1, "t", None, "complete", {}, "h", "0", None, {}, machine, {})


def _one(rule: str) -> Threshold:
    (threshold,) = parse_thresholds(rule)
    return threshold


# (rule, before, the value at the limit, just past it, just inside it)
LIMITS = [
    ("p50>+25%", 1.0, 1.25, 1.2500001, 1.2499999),  # relative: up by more than 25% fails
    ("accuracy<-25pt", 0.75, 0.5, 0.49, 0.51),  # accuracy points: a drop of more than 25 pt
    ("macs>+1000", 5000, 6000, 6001, 5999),  # absolute
    ("size>+0%", 1024, 1024, 1025, 1023),  # any growth at all
    ("size<-50%", 1024, 512, 511, 513),  # a lower bound: the size must shrink by half
]
CASES = [
    (rule, before, after, crossed)
    for rule, before, at, past, inside in LIMITS
    for after, crossed in ((at, False), (past, True), (inside, False))
] + [
    ("p50>+25%", 4.0, 5.0, False),  # the base is `before`: 25% of 4, not of 5
    ("p50>+25%", 4.0, 5.0625, True),
]


@pytest.mark.parametrize(("rule", "before", "after", "crossed"), CASES)
def test_threshold_at_and_around_its_limit(
    rule: str, before: float, after: float, crossed: bool
) -> None:
    assert _one(rule).crossed(before, after) is crossed


def test_changes_are_measured_against_the_earlier_value_in_each_unit() -> None:
    assert _one("p50>+10%").change(4.0, 5.0) == 25.0
    assert _one("p50>+10%").change(5.0, 4.0) == -20.0
    assert _one("accuracy<-1pt").change(0.75, 0.5) == -25.0
    assert _one("macs>+1").change(5000, 6500) == 1500
    # A relative change from zero is undefined: reported as no change.
    assert _one("size>+0%").change(0, 100) == 0.0
    assert not _one("size>+0%").crossed(0, 100)


def test_thresholds_parse_to_their_metric_operator_value_and_unit() -> None:
    rules = parse_thresholds(" accuracy < -0.5 pt , p50>+10%,, size>+0%,macs>1000,p99>+2.5%")
    assert rules == [
        Threshold("accuracy", "accuracy", "<", -0.5, "pt"),
        Threshold("p50", "latency_p50_ms", ">", 10.0, "%"),
        Threshold("size", "file_bytes", ">", 0.0, "%"),
        Threshold("macs", "macs", ">", 1000.0, ""),
        Threshold("p99", "latency_p99_ms", ">", 2.5, "%"),
    ]
    assert [str(r) for r in rules] == [
        "accuracy<-0.5pt",
        "p50>+10%",
        "size>+0%",
        "macs>+1000",
        "p99>+2.5%",
    ]
    assert parse_thresholds("robust_accuracy<-1pt")[0].metric == "robust_accuracy"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("p50>+10pt", "--fail-on: 'pt' (accuracy points) does not apply to p50; use %"),
        ("latency>+10%", "--fail-on: unknown metric 'latency'"),
        ("p50=+10%", "--fail-on: cannot read 'p50=+10%'; write METRIC<VALUE or METRIC>VALUE"),
    ],
)
def test_bad_rules_name_the_rule(rule: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_thresholds(rule)
    assert str(err.value).startswith(message)


def _timed(key: str, p50: float, **metrics: Any) -> CandidateRecord:
    return record(
        key, metrics={"accuracy": 0.9, "file_bytes": 1000, "latency_p50_ms": p50, **metrics}
    )


# Same-file changes of +-0.1 on the log scale: across-run noise sd = 0.1, so the band is
# Z * 0.1 = 0.3 in log, exp(0.3) - 1 = 35% as a ratio.
HISTORY = NoiseInputs(history={"onnxruntime": [0.1, -0.1]})
BAND = math.exp(Z * 0.1)


@pytest.mark.parametrize(
    ("ratio", "crossed", "note", "inconclusive"),
    [
        (1.25, (), "", False),  # exactly at the 25% threshold: no change worth judging
        (1.30, (), "inconclusive: noise ±35%", True),  # past the threshold, inside the band
        (BAND * (1 - 1e-9), (), "inconclusive: noise ±35%", True),  # just inside the band
        (BAND * (1 + 1e-9), ("p50>+25%",), "beyond the threshold and the noise (±35%)", False),
        (1.40, ("p50>+25%",), "beyond the threshold and the noise (±35%)", False),
    ],
)
def test_a_latency_regression_must_exceed_the_threshold_and_the_noise_band(
    ratio: float, crossed: tuple[str, ...], note: str, inconclusive: bool
) -> None:
    rules = parse_thresholds("p50>+25%")
    (change,) = compare_runs(
        _run(), _run(), [_timed("a", 1.0)], [_timed("a", ratio)], rules, HISTORY
    )
    assert (change.crossed, change.note, change.inconclusive) == (crossed, note, inconclusive)


def test_without_any_noise_estimate_a_rise_is_inconclusive() -> None:
    rules = parse_thresholds("p50>+25%")
    (change,) = compare_runs(_run(), _run(), [_timed("a", 1.0)], [_timed("a", 3.0)], rules)
    assert (change.crossed, change.note, change.inconclusive) == (
        (),
        "inconclusive: noise unknown",
        True,
    )


def test_the_same_file_on_the_same_runtime_is_a_noise_sample_never_a_regression() -> None:
    rules = parse_thresholds("p50>+25%")
    same = {"artifact_sha256": "abc", "runtime_version": "1.0"}
    base = [record("a", metrics={"latency_p50_ms": 1.0}, **same)]
    head = [record("a", metrics={"latency_p50_ms": 3.0}, **same)]
    (change,) = compare_runs(_run(), _run(), base, head, rules, HISTORY)
    assert (change.crossed, change.note) == ((), "same file and runtime: a noise sample")


def test_latency_is_not_compared_across_machines() -> None:
    rules = parse_thresholds("p50>+25%,size>+0%")
    base = [_timed("a", 1.0, file_bytes=1000)]
    head = [_timed("a", 3.0, file_bytes=1001)]
    changes = compare_runs(_run("m1"), _run("m2"), base, head, rules)
    assert [(c.metric, c.crossed) for c in changes] == [("file_bytes", ("size>+0%",))]
    same = compare_runs(_run("m1"), _run("m1"), base, head, rules, HISTORY)
    assert [(c.metric, c.crossed) for c in same] == [
        ("latency_p50_ms", ("p50>+25%",)),
        ("file_bytes", ("size>+0%",)),
    ]


def test_latency_measured_on_a_device_is_compared_by_the_devices_machine() -> None:
    """Rows timed on a target's node: the node's hardware decides, not the machine that
    ran the sweep (two runs driven from two laptops, timed on the same board, compare)."""
    rules = parse_thresholds("p50>+25%")
    board = {"cpu": "Cortex-A76", "arch": "aarch64", "cores": 4, "os": "Linux"}
    other = {**board, "cpu": "Cortex-A72"}

    def timed(p50: float, node_machine: dict[str, Any]) -> CandidateRecord:
        return record("a", metrics={"latency_p50_ms": p50}, node_machine=node_machine)

    same = compare_runs(
        _run("laptop1"), _run("laptop2"), [timed(1.0, board)], [timed(3.0, board)], rules, HISTORY
    )
    assert [(c.metric, c.crossed) for c in same] == [("latency_p50_ms", ("p50>+25%",))]
    moved = compare_runs(
        _run("m"), _run("m"), [timed(1.0, board)], [timed(3.0, other)], rules, HISTORY
    )
    assert moved == []


def test_every_kind_of_change_in_order() -> None:
    rules = parse_thresholds("accuracy<-25pt")

    def row(key: str, acc: float, status: str = "ok") -> CandidateRecord:
        metrics = {"accuracy": acc, "file_bytes": 1000, "latency_p50_ms": 1.0}
        return record(key, status=status, metrics=metrics, error="oom" if status != "ok" else None)

    base = [row("same", 0.75), row("drop", 0.75), row("edge", 0.75), row("breaks", 0.75),
            row("still", 0.75, "failed"), row("gone", 0.75)]  # fmt: skip
    head = [row("same", 0.75), row("drop", 0.49), row("edge", 0.5), row("breaks", 0.75, "failed"),
            row("still", 0.75, "failed"), row("new", 0.9)]  # fmt: skip
    changes = compare_runs(_run(), _run(), base, head, rules)
    assert [(c.key, c.metric, c.before, c.after, c.crossed, c.note) for c in changes] == [
        ("drop", "accuracy", 0.75, 0.49, ("accuracy<-25pt",), ""),
        ("edge", "accuracy", 0.75, 0.5, (), ""),
        ("breaks", "status", None, None, ("status",), "now failing: oom"),
        ("new", "status", None, None, (), "new candidate"),
        ("gone", "status", None, None, (), "no longer in the sweep"),
    ]


def test_a_metric_missing_on_either_side_is_no_change() -> None:
    rules = parse_thresholds("p90>+0%")
    base = [record("a", metrics={"accuracy": 0.9, "latency_p90_ms": None})]
    head = [record("a", metrics={"accuracy": 0.9, "latency_p90_ms": 5.0})]
    assert compare_runs(_run(), _run(), base, head, rules) == []
    assert compare_runs(_run(), _run(), head, base, rules) == []


def test_the_gates_noise_is_the_pairs_own_from_three_else_with_history_plus_round_noise() -> None:
    from harness.report.compare import NoiseInputs, _noise_sd
    from harness.report.noise import Noise

    before, after = record("k", runtime="ort"), record("k2", runtime="ort")
    within = ({"ort": Noise(0.2, 10)}, {"ort": Noise(0.3, 10)})  # base run's, head run's
    inputs = NoiseInputs(base_rounds={"k": [1.0] * 4}, head_rounds={"k2": [1.0] * 2},
                         history={"ort": [0.4]})  # fmt: skip
    # Three same-file pairs in these two runs: they alone are the across-run noise; each
    # run's round noise counts as the variance of a median of its 4 and 2 rounds.
    own = {("ort", "latency_p50_ms"): [0.1, 0.2, 0.3]}
    sd = _noise_sd(before, after, "latency_p50_ms", own, within, inputs)
    assert sd == pytest.approx(math.sqrt(0.14 / 3 + 0.04 / 4 + 0.09 / 2))
    # One pair: history's changes join it; no rounds recorded counts as one round each.
    few = {("ort", "latency_p50_ms"): [0.1]}
    sd = _noise_sd(
        before, after, "latency_p50_ms", few, within, NoiseInputs(history={"ort": [0.4]})
    )
    assert sd == pytest.approx(math.sqrt((0.01 + 0.16) / 2 + 0.04 + 0.09))


def test_this_comparisons_noise_samples_are_the_unchanged_files_latency_changes() -> None:
    from harness.report.compare import _same_file_pairs

    def row(key: str, status: str = "ok", sha: str = "s", **metrics: float) -> CandidateRecord:
        return record(key, status=status, metrics=dict(metrics), runtime="ort",
                      artifact_sha256=sha, runtime_version="v1")  # fmt: skip

    base = [row("x", latency_p50_ms=1.0, latency_p90_ms=2.0), row("y", latency_p50_ms=1.0),
            row("z", status="failed"), row("q", latency_p50_ms=1.0)]  # fmt: skip
    head = [
        row("w", latency_p50_ms=5.0),  # new: no sample
        row("q", status="failed"),  # failing now: no sample
        row("y", sha="t", latency_p50_ms=3.0),  # another file: a real change, no sample
        row("z", latency_p50_ms=1.0),  # failed before: no sample
        row(
            "x",
            latency_p50_ms=math.exp(0.1),
            latency_p90_ms=2.0 * math.exp(0.2),
            latency_p99_ms=4.0,
        ),  # fmt: skip
    ]
    pairs = _same_file_pairs(base, head)
    assert pairs == {("ort", "latency_p50_ms"): [pytest.approx(0.1)],
                     ("ort", "latency_p90_ms"): [pytest.approx(0.2)]}  # fmt: skip


def test_without_thresholds_every_change_is_still_listed() -> None:
    def row(key: str, status: str = "ok", error: str | None = None, **metrics: float) -> Any:
        return record(key, status=status, error=error, metrics=dict(metrics))

    base = [row("a", accuracy=0.9, file_bytes=1000, latency_p50_ms=1.0), row("b", accuracy=0.8),
            row("c", accuracy=0.7), row("d", accuracy=0.6)]  # fmt: skip
    head = [row("a", accuracy=0.85, file_bytes=1100, latency_p50_ms=1.2), row("b", accuracy=0.8),
            row("e", accuracy=0.5), row("d", status="failed", error="boom")]  # fmt: skip
    changes = compare_runs(_run(), _run(), base, head, [])
    label = "cnn / none / {} / onnxruntime".format
    assert [(c.key, c.label, c.metric, c.before, c.after, c.crossed, c.note) for c in changes] == [
        ("a", label("a"), "accuracy", 0.9, 0.85, (), ""),
        ("a", label("a"), "file_bytes", 1000, 1100, (), ""),
        ("a", label("a"), "latency_p50_ms", 1.0, 1.2, (), ""),
        ("e", label("e"), "status", None, None, (), "new candidate"),
        ("d", label("d"), "status", None, None, ("status",), "now failing: boom"),
        ("c", label("c"), "status", None, None, (), "no longer in the sweep"),
    ]


def test_a_bad_rule_is_named_with_how_to_write_one() -> None:
    with pytest.raises(ConfigError) as err:
        parse_thresholds("p50 up 10")
    assert str(err.value) == (
        "--fail-on: cannot read 'p50 up 10'; write METRIC<VALUE or METRIC>VALUE "
        "with pt or % units, e.g. accuracy<-0.5pt,p50>+10%"
    )
    with pytest.raises(ConfigError) as err:
        parse_thresholds("latency>+10%")
    assert str(err.value).endswith(
        "; choose from: accuracy, robust_accuracy, size, compressed, params, macs, p50, p90, p99, mae, rmse"
    )

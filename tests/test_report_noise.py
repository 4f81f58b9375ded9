"""The noise rule: pooled round noise, same-file noise, and regression verdicts on
synthetic series (every expected number worked out by hand in the comments)."""

from __future__ import annotations

import math

import pytest

from harness.report import noise
from harness.report.history import HistoryPoint, SeriesLabel, history_series

E = math.exp


def test_round_noise_is_pooled_over_candidates_on_the_log_scale() -> None:
    # logs 0, 0.1, -0.1: mean 0, sd sqrt((0.01 + 0.01) / 2) = 0.1
    assert noise.log_sd([1.0, E(0.1), E(-0.1)]) == pytest.approx(0.1)
    assert noise.log_sd([3.0]) is None
    # group 2: logs ln2, ln2 + 0.2 -> variance 0.02 with 1 dof; pooled variance
    # (2 * 0.01 + 1 * 0.02) / 3 = 0.04 / 3
    pooled = noise.pooled([[1.0, E(0.1), E(-0.1)], [2.0, 2 * E(0.2)], [5.0]])
    assert pooled is not None and pooled.dof == 3
    assert pooled.sd == pytest.approx(math.sqrt(0.04 / 3))
    by_runtime = noise.pooled_by_runtime(
        {"a": [1.0, E(0.1), E(-0.1)], "b": [2.0, 2 * E(0.2)]}, {"a": "ort", "b": "litert"}
    )
    assert by_runtime["ort"].sd == pytest.approx(0.1)
    assert by_runtime["litert"].sd == pytest.approx(0.2 / math.sqrt(2))
    # the Z = 3 band of sd 0.1: e^0.3 - 1 = 34.99%
    assert by_runtime["ort"].percent == pytest.approx(34.9859, abs=1e-4)


def test_same_file_noise_is_the_root_mean_square_about_zero() -> None:
    # sqrt((0.01 + 0.01 + 0.04) / 3) = sqrt(0.02): a shared shift counts as noise too
    found = noise.same_file_noise([0.1, -0.1, 0.2])
    assert found is not None and found.sd == pytest.approx(math.sqrt(0.02)) and found.dof == 3
    assert noise.same_file_noise([]) is None
    # sd of a difference of two medians of 3 rounds: sqrt(0.1^2 + 0.03^2/3 + 0.06^2/3)
    sd = noise.band_sd(noise.Noise(0.1, 5), noise.Noise(0.03, 4), 3, noise.Noise(0.06, 4), 3)
    assert sd == pytest.approx(math.sqrt(0.01 + 0.0003 + 0.0012))
    assert noise.band_sd(None) is None


def test_a_regression_must_exceed_both_the_threshold_and_the_noise() -> None:
    # sd 0.1: band Z * sd = 0.3 in log, e^0.3 - 1 = 35%
    fail = noise.judge(1.0, 1.5, 0.10, 0.1)  # ln 1.5 = 0.405 > 0.3
    assert (fail.kind, fail.text) == (noise.REGRESSION, "beyond the threshold and the noise (±35%)")
    unsure = noise.judge(1.0, 1.3, 0.10, 0.1)  # ln 1.3 = 0.262: beyond 10%, inside the band
    assert (unsure.kind, unsure.text) == (noise.INCONCLUSIVE, "inconclusive: noise ±35%")
    assert noise.judge(1.0, 1.08, 0.10, 0.1).kind == noise.OK  # under the threshold
    assert noise.judge(1.0, 1.10, 0.10, 0.001).kind == noise.OK  # exactly the threshold
    assert noise.judge(1.0, 1.5, 0.10, None).text == "inconclusive: noise unknown"
    # The same bytes on the same runtime: a noise sample whatever it reads.
    assert noise.judge(1.0, 3.0, 0.10, 0.001, same_file=True).kind == noise.SAME_FILE


def _series(sha_by_run: list[str], p50s: list[float]) -> list[HistoryPoint]:
    return [
        HistoryPoint(i + 1, "A", "ok", 0.97, 1000, p, sha, "ort 1.0")
        for i, (sha, p) in enumerate(zip(sha_by_run, p50s, strict=True))
    ]


def test_history_judges_each_run_pair_against_its_same_file_noise() -> None:
    # Run 2 was loaded: four unchanged files read 35-50% slower. Run 3 was quiet again.
    # A fifth series changed its file in run 2 (+60%) and again in run 3 (+60%).
    steady = [
        _series(["s"] * 3, [1.0, 1.0 * r2, 1.0 * r2 * r3])
        for r2, r3 in [(1.40, 0.99), (1.50, 1.02), (1.45, 1.00), (1.35, 1.01)]
    ]
    changed = _series(["x1", "x2", "x3"], [1.0, 1.6, 2.56])
    labels = {SeriesLabel(f"k{i}", "cnn", "none", f"c{i}", "ort"): s for i, s in enumerate(steady)}
    labels[SeriesLabel("changed", "cnn", "none", "changed", "ort")] = changed
    series = {s.label.key: s for s in history_series(labels, "A")}
    # Run 1 -> 2: same-file log changes ln 1.40, 1.50, 1.45, 1.35 have a root mean square of
    # 0.356, a band of e^(3 * 0.356) - 1 = +191%: +60% is inconclusive, not a regression.
    # Run 2 -> 3: ln 0.99, 1.02, 1.00, 1.01 -> rms 0.0122, band +3.7%: +60% is a regression.
    assert [(r.run_id, r.metric) for r in series["changed"].regressions] == [(3, "latency_p50_ms")]
    assert [(r.run_id, r.text) for r in series["changed"].inconclusive] == [
        (2, "p50 +60.0% (inconclusive: noise ±191%)")
    ]
    # The unchanged files rose 35-50% in run 2: noise samples, never regressions.
    assert all(not series[f"k{i}"].regressions and not series[f"k{i}"].inconclusive
               for i in range(4))  # fmt: skip


def test_same_file_changes_skip_other_machines_failures_and_new_files() -> None:
    points = [
        (1, "A", "ok", 1.0, "s", "v1"),
        (2, "B", "ok", 9.0, "s", "v1"),  # another machine
        (3, "A", "failed", None, None, None),
        (4, "A", "ok", 1.2, "s", "v1"),  # same file as run 1: ln 1.2
        (5, "A", "ok", 1.3, "t", "v1"),  # new file
        (6, "A", "ok", 1.4, "t", "v2"),  # runtime upgraded
        (7, "A", "ok", 1.4 * 0.9, "t", "v2"),  # ln 0.9
    ]
    assert noise.same_file_changes(points, "A") == pytest.approx([math.log(1.2), math.log(0.9)])

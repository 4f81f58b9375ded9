"""The leaderboard's charts as a reader sees them in headless Chromium: an outlier does not
flatten the others, microsecond latencies are labelled in µs, a runtime keeps its colour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.report.render import render
from harness.report.site import write_site
from harness.store.results import CandidateRecord, Store
from tests.helpers.browser import CHARTS_DRAWN, Browser

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def _record(
    policy: str, comp: str, runtime: str, acc: float, kb: float, p50: float
) -> CandidateRecord:
    n = 1000
    metrics: dict[str, Any] = {
        "accuracy": acc, "accuracy_low": acc - 0.01, "accuracy_high": min(1.0, acc + 0.01),
        "n_test": n, "file_bytes": int(kb * 1024), "latency_p50_ms": p50,
        "latency_p90_ms": p50 * 1.1, "latency_p99_ms": p50 * 1.3,
    }  # fmt: skip
    return CandidateRecord(
        key=f"{policy}-{comp}-{runtime}", dataset="digits", model="cnn", policy=policy,
        compression=comp, runtime=runtime, status="ok", metrics=metrics, details={},
    )  # fmt: skip


def _site(tmp: Path, records: list[CandidateRecord]) -> Path:
    store = Store(tmp / "results.db")
    run = store.start_run(
        started_at="2026-01-01T09:00:00+00:00", config={"name": "t"}, config_hash="c",
        harness_version="0", git_revision=None, machine={"cpu": "x"}, machine_hash="m",
    )  # fmt: skip
    for r in records:
        store.add_candidate(run, r, "2026-01-01T09:01:00+00:00")
    store.finish_run(run, finished_at="2026-01-01T09:02:00+00:00", status="complete", timings={})
    return write_site(render(store), tmp / "site")


def _open(browser: Browser, site: Path) -> None:
    browser.open((site / "index.html").as_uri())
    browser.wait_for(CHARTS_DRAWN)
    assert browser.errors() == []


def _grid(accuracy: dict[str, float], runtimes: tuple[str, ...]) -> list[CandidateRecord]:
    sizes = {"fp32": 42.0, "int8": 12.5, "int4": 7.3, "int2": 4.1, "svd": 24.0}
    return [
        _record(policy, comp, rt, acc - 0.004 * i, sizes[comp], 0.02 + 0.01 * j + 0.002 * i)
        for i, policy in enumerate(("none", "geometric"))
        for comp, acc in accuracy.items()
        for j, rt in enumerate(runtimes)
    ]


def test_an_outlier_does_not_flatten_the_others(browser: Browser, tmp_path: Path) -> None:
    acc = {"fp32": 0.985, "int8": 0.982, "int4": 0.975, "svd": 0.968, "int2": 0.30}
    _open(browser, _site(tmp_path, _grid(acc, ("onnxruntime", "litert"))))
    spread = browser.evaluate(
        "(() => { const gd = document.getElementById('chart-size');"
        " const r = gd._fullLayout.yaxis.range;"
        " const ys = gd.data.filter(t => t.mode === 'markers').flatMap(t => t.y);"
        " const out = gd.data.filter(t => t.mode === 'markers+text').flatMap(t => t.text);"
        " return {span: (Math.max(...ys) - Math.min(...ys)) / (r[1] - r[0]), out: out}; })()"
    )
    assert spread["span"] >= 0.75, spread  # the 96.0-98.5% candidates fill the height
    assert sorted(spread["out"]) == ["29.6%", "29.6%", "30.0%", "30.0%"]  # shown, with value


def test_microsecond_latencies_are_labelled_in_us(browser: Browser, tmp_path: Path) -> None:
    acc = {"fp32": 0.985, "int8": 0.982, "int4": 0.975}
    _open(browser, _site(tmp_path, _grid(acc, ("onnxruntime", "litert"))))
    ticks = browser.evaluate(
        "Array.from(document.querySelectorAll('#chart-latency .xtick text')).map(t => t.textContent)"
    )
    title = browser.evaluate("document.querySelector('#chart-latency .g-xtitle').textContent")
    assert "µs" in title
    assert ticks and all(10 <= float(t) <= 100 for t in ticks), ticks  # 20-40 µs, not 0.02 ms


def test_a_runtime_keeps_its_colour_across_runs(browser: Browser, tmp_path: Path) -> None:
    acc = {"fp32": 0.985, "int8": 0.982}
    colours = []
    for n, runtimes in enumerate((("onnxruntime", "litert"), ("litert", "litert int8"))):
        _open(browser, _site(tmp_path / str(n), _grid(acc, runtimes)))
        colours.append(
            browser.evaluate(
                "Object.fromEntries(document.getElementById('chart-size')._fullData"
                ".filter(t => t.name && t.name.includes(' on '))"
                ".map(t => [t.name.split(' on ')[1], t.marker.color]))"
            )
        )
    assert colours[0]["litert"] == colours[1]["litert"]
    assert colours[1]["litert int8"] != colours[1]["litert"]
    assert colours[0]["onnxruntime"] != colours[0]["litert"]

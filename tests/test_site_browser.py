"""The rendered site in headless Chromium, from file://: no console errors, every chart
drawn, sorting works, nothing is requested from the network.

These tests fail (never skip) without /usr/bin/chromium: CI installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report import tables as report_tables
from harness.report.render import render
from harness.report.site import write_site
from tests.helpers.browser import CHARTS_DRAWN, Browser
from tests.helpers.report_store import XSS, Fixture, make_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def site_dir(fx: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_site(render(fx.store), tmp_path_factory.mktemp("out") / "site")


@pytest.fixture(scope="module")
def json_site(fx: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same site with its tables embedded as JSON, as for very large runs."""
    return write_site(render(fx.store, inline_rows=0), tmp_path_factory.mktemp("out") / "site")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def _load(browser: Browser, page: Path) -> None:
    browser.open(page.as_uri())
    browser.wait_for(CHARTS_DRAWN)
    assert browser.errors() == []
    assert [u for u in browser.requests() if not u.startswith(("file:", "data:"))] == []


def _column(browser: Browser, table: str, column: int) -> list[float | None]:
    return browser.evaluate(
        f"Array.from(document.querySelectorAll('#{table} tbody tr')).map(tr => {{"
        f" const v = tr.cells[{column}].getAttribute('data-value');"
        " return v === null ? null : parseFloat(v); })"
    )


def _check_sorting(browser: Browser, column: int, values: list[float | None]) -> None:
    """Click a numeric header twice: the rows shown are the first of all values sorted up,
    then down, missing values last either way."""
    header = f"#leaderboard thead th:nth-child({column + 1}) button"
    before = _column(browser, "leaderboard", column)
    measured = sorted(round(v, 6) for v in values if v is not None)  # as data-value holds them
    missing = [None] * (len(values) - len(measured))
    browser.click(header)
    ascending = _column(browser, "leaderboard", column)
    assert ascending != before
    assert ascending == (measured + missing)[: len(ascending)]
    browser.click(header)
    assert _column(browser, "leaderboard", column) == (measured[::-1] + missing)[: len(ascending)]
    aria = f"document.querySelector('{header}').parentElement.getAttribute('aria-sort')"
    assert browser.evaluate(aria) == "descending"


def _metric(fx: Fixture, name: str) -> list[float | None]:
    return [r.metric(name) for r in fx.store.candidates(fx.run_ids[-1])]


def test_index_loads_clean_draws_every_chart_and_sorts(
    browser: Browser, fx: Fixture, site_dir: Path
) -> None:
    _load(browser, site_dir / "index.html")
    charts = browser.evaluate("document.querySelectorAll('div.chart .main-svg').length")
    assert charts >= 4
    _check_sorting(browser, 7, _metric(fx, "file_bytes"))


def test_filters_narrow_the_rows(browser: Browser, site_dir: Path) -> None:
    _load(browser, site_dir / "index.html")
    visible = (
        "Array.from(document.querySelectorAll('#leaderboard tbody tr')).filter(r => !r.hidden)"
    )
    total = browser.evaluate(f"{visible}.length")
    browser.evaluate(
        "(() => { const s = document.querySelector('select[data-filter-column=\"14\"]');"
        " s.value = 'failed'; s.dispatchEvent(new Event('change')); })()"
    )
    assert browser.evaluate(f"{visible}.length") == 1
    browser.evaluate(
        "(() => { const s = document.querySelector('select[data-filter-column=\"14\"]');"
        " s.value = ''; s.dispatchEvent(new Event('change'));"
        " const t = document.querySelector('[data-filter-text]'); t.value = 'LITERT';"
        " t.dispatchEvent(new Event('input')); })()"
    )
    shown = browser.evaluate(f"{visible}.map(r => r.cells[4].textContent)")
    assert 0 < len(shown) < total and set(shown) == {"litert"}


def test_a_candidate_page_loads_clean_with_its_charts(
    browser: Browser, fx: Fixture, site_dir: Path
) -> None:
    candidate = next(c for c in fx.store.candidates(fx.run_ids[-1]) if c.status == "ok")
    _load(browser, site_dir / f"candidates/{candidate.id}.html")
    assert browser.evaluate("document.querySelectorAll('div.chart').length") == 3


def test_history_and_run_pages_load_clean(browser: Browser, fx: Fixture, site_dir: Path) -> None:
    for page in ("history.html", "runs.html", f"runs/{fx.run_ids[0]}.html"):
        _load(browser, site_dir / page)


def test_tables_built_from_json_sort_the_same(
    browser: Browser, fx: Fixture, json_site: Path
) -> None:
    _load(browser, json_site / "index.html")
    rows = browser.evaluate("document.querySelectorAll('#leaderboard tbody tr').length")
    assert rows == len(fx.store.candidates(fx.run_ids[-1]))
    link = browser.evaluate("document.querySelector('#leaderboard tbody a').getAttribute('href')")
    assert (json_site / link).is_file()
    _check_sorting(browser, 11, _metric(fx, "latency_p50_ms"))


def test_hostile_names_stay_text(browser: Browser, tmp_path: Path) -> None:
    hostile = make_store(tmp_path, hostile=True)
    for inline_rows in (1000, 0):
        out = write_site(
            render(hostile.store, inline_rows=inline_rows), tmp_path / f"site{inline_rows}"
        )
        _load(browser, out / "index.html")  # an alert would show up as an error
        text = browser.evaluate("document.body.innerText")
        assert XSS[0] in text and XSS[1] in text
        assert browser.evaluate("document.querySelectorAll('img').length") == 0


def test_screenshot_of_the_index(browser: Browser, site_dir: Path, tmp_path: Path) -> None:
    _load(browser, site_dir / "index.html")
    shot = browser.screenshot(tmp_path / "leaderboard.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_long_tables_show_a_page_of_rows_at_a_time(
    browser: Browser, fx: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_tables, "TABLE_PAGE_ROWS", 10)
    out = write_site(render(fx.store, inline_rows=0), tmp_path / "site")
    _load(browser, out / "index.html")
    rows = "document.querySelectorAll('#leaderboard tbody tr').length"
    count = "document.querySelector('[data-count]').textContent"
    assert browser.evaluate(rows) == 10
    assert browser.evaluate(count) == "36 rows, first 10 shown"
    _check_sorting(browser, 7, _metric(fx, "file_bytes"))  # all 36 rows, not the 10 shown
    browser.click(".table-more button")
    assert browser.evaluate(rows) == 20
    browser.evaluate(
        "(() => { const t = document.querySelector('[data-filter-text]'); t.value = 'int8';"
        " t.dispatchEvent(new Event('input')); })()"
    )
    assert browser.evaluate(rows) == 10
    assert browser.evaluate(count) == "12 of 36 rows match, first 10 shown"  # int8 and ort int8

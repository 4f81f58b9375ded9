"""The rendered site: every page and link, results.json against its schema, hostile names,
atomic replacement, and byte-for-byte rebuilds under SOURCE_DATE_EPOCH."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import jinja2
import jsonschema
import pytest

from harness.errors import HarnessError, StoreError
from harness.report import candidate_pages, results_files, site
from harness.report import render as report
from harness.report.render import build_site, render
from harness.store.results import Store
from harness.store.schema import METRIC_COLUMNS
from tests.helpers.report_store import XSS, Fixture, make_store

SCHEMA = Path(report.__file__).with_name("results_schema.json")


class Links(HTMLParser):
    """Collects hrefs, srcs, script tags and embedded JSON of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self.links += [v for k, v in attrs if k in ("href", "src") and v]
        self._in_json = tag == "script" and attributes.get("type") == "application/json"

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json_blocks.append(data)
            self._in_json = False


def _parse(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _pages(site_dir: Path) -> list[Path]:
    return sorted(site_dir.rglob("*.html"))


@pytest.fixture()
def site_dir(fx: Fixture, tmp_path: Path) -> Path:
    index = build_site(fx.store, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    return index.parent


def test_every_page_and_file_exists(fx: Fixture, site_dir: Path) -> None:
    latest = fx.run_ids[-1]
    expected = {"index.html", "history.html", "runs.html", "results.json", "results.csv",
                "assets/plotly.min.js", "assets/site.css", "assets/table.js"}  # fmt: skip
    expected |= {f"runs/{run_id}.html" for run_id in fx.run_ids}
    candidates = fx.store.candidates(latest)
    expected |= {f"candidates/{c.id}.html" for c in candidates}
    expected |= {f"models/{Path(c.artifact).name}" for c in candidates if c.artifact}
    written = {p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*") if p.is_file()}
    assert expected <= written
    assert (site_dir / "assets/plotly.min.js").stat().st_size > 1_000_000
    index = (site_dir / "index.html").read_text()
    assert index.count('<tr class="ok">') == sum(c.status == "ok" for c in candidates)
    assert "convert: unsupported on litert: QLinearConv" in index  # a failure shows its reason
    assert "★" in index and "97.6% [" in index


def test_every_relative_link_resolves_and_nothing_leaves_the_site(site_dir: Path) -> None:
    for page in _pages(site_dir):
        for link in _parse(page).links:
            assert not re.match(r"^([a-z]+:|//)", link), f"{page.name}: non-local link {link}"
            target = unquote(link.split("#")[0])
            if target:
                assert (page.parent / target).resolve().is_file(), f"{page.name}: {link} is broken"


def test_embedded_json_parses_and_charts_are_valid_plotly(site_dir: Path) -> None:
    import plotly.graph_objects as go

    figures = 0
    for page in [
        site_dir / "index.html",
        site_dir / "history.html",
        *_pages(site_dir / "candidates")[:3],
    ]:
        for block in _parse(page).json_blocks:
            figure = json.loads(block)
            go.Figure(figure)  # raises on any property plotly does not know
            figures += 1
    assert figures >= 4 + 30 // 10


def test_results_json_validates_and_matches_the_store(fx: Fixture, site_dir: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((site_dir / "results.json").read_text())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["schema_version"] == results_files.RESULTS_SCHEMA_VERSION
    metric_props = schema["properties"]["candidates"]["items"]["properties"]["metrics"]
    assert list(metric_props["properties"]) == list(METRIC_COLUMNS)
    stored = {c.id: c for c in fx.store.candidates(fx.run_ids[-1])}
    assert {c["id"] for c in doc["candidates"]} == set(stored)
    for entry in doc["candidates"]:
        assert entry["metrics"] == {k: stored[entry["id"]].metrics[k] for k in METRIC_COLUMNS}
        assert (site_dir / entry["page"]).is_file()
        assert entry["model_file"] is None or (site_dir / entry["model_file"]).is_file()
    assert sum(c["pareto"] for c in doc["candidates"]) >= 1


def test_results_csv_has_one_row_per_candidate_with_every_metric(
    fx: Fixture, site_dir: Path
) -> None:
    rows = list(csv.DictReader(io.StringIO((site_dir / "results.csv").read_text())))
    stored = {str(c.id): c for c in fx.store.candidates(fx.run_ids[-1])}
    assert len(rows) == len(stored)
    for row in rows:
        record = stored[row["id"]]
        for name in METRIC_COLUMNS:
            value = record.metrics[name]
            assert row[name] == ("" if value is None else str(value))


def test_history_marks_regressions_and_separates_machines(site_dir: Path) -> None:
    text = (site_dir / "history.html").read_text()
    for mark in ("accuracy −2.0 pt", "file size +11.0%"):
        assert mark in text
    assert re.search(r"run 3: p50 \+4\d\.\d%", text)  # 1.5x the samples' scale, sampled
    assert "3 series regressed in their latest run" in text
    # Run 2 measured on machine-b: its p50 is left out of the charts, with a note.
    assert "p50 from 1 run(s) on another machine is not drawn" in text
    for block in _parse(site_dir / "history.html").json_blocks:
        trend = json.loads(block)
        if trend["data"] and trend["data"][0].get("type") == "scatter":
            latency = [t for t in trend["data"] if t.get("yaxis") == "y3"]
            assert latency and all(2 not in t["x"] and 3 in t["x"] for t in latency)


def test_an_older_run_can_be_reported(fx: Fixture, tmp_path: Path) -> None:
    first = fx.run_ids[0]
    index = build_site(fx.store, tmp_path / "old", first)
    text = index.read_text()
    assert f"This report shows run {first}; the latest stored run is {fx.run_ids[-1]}" in text
    for c in fx.store.candidates(first):
        assert (index.parent / f"candidates/{c.id}.html").is_file()


def test_an_empty_store_is_a_one_line_store_error(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.db") as store, pytest.raises(StoreError) as info:
        build_site(store, tmp_path / "site")
    assert "no runs" in str(info.value) and "\n" not in str(info.value)


def test_large_tables_are_embedded_as_json_with_the_same_cells(fx: Fixture, tmp_path: Path) -> None:
    files = render(fx.store, inline_rows=0)
    index = files["index.html"]
    assert isinstance(index, str)
    assert '<tr class="ok">' not in index and 'class="table-rows"' in index
    blocks = re.findall(
        r'<script type="application/json" class="table-rows"[^>]*>(.*?)</script>', index
    )
    embedded = json.loads(blocks[0])
    rows, strings = embedded["rows"], embedded["strings"]
    assert len(rows) == len(fx.store.candidates(fx.run_ids[-1]))
    assert {strings[row[0]] for row in rows} == {"ok", "failed"}
    cells = [cell for row in rows for cell in row[1:] if isinstance(cell, list)]
    hrefs = [cell[2] for cell in cells if len(cell) > 2 and cell[2]]
    assert len(hrefs) == len(rows) and all(h in files for h in hrefs)
    notes = [strings[cell[3]] for cell in cells if len(cell) > 3]
    assert notes == ["convert: unsupported on litert: QLinearConv"]


HOSTILE = ("<script>alert", "<img src=x", "onerror=alert(1)>", '"><img')


def test_hostile_names_render_as_text_everywhere(tmp_path: Path) -> None:
    fx = make_store(tmp_path, hostile=True)  # in names, a failure's reason and model files
    for inline_rows in (1000, 0):
        files = render(fx.store, inline_rows=inline_rows)
        pages = {name: text for name, text in files.items() if name.endswith(".html")}
        assert any(html.escape(XSS[0], quote=False) in text for text in pages.values())
        for name, text in pages.items():
            assert isinstance(text, str)
            for needle in HOSTILE:
                assert needle not in text, f"{name} holds {needle!r} unescaped"
            parser = Links()
            parser.feed(text)
            for tag, attrs in parser.tags:
                assert tag != "img", name
                assert not any(k.startswith("on") for k in attrs), f"{name}: {tag} {attrs}"
            for block in parser.json_blocks:
                assert XSS[0] not in block  # still escaped: \u003c/script\u003e
                json.loads(block)
    site_dir = build_site(fx.store, tmp_path / "site").parent
    assert any("onerror" in p.name for p in (site_dir / "models").iterdir())
    for page in _pages(site_dir / "candidates"):
        for link in _parse(page).links:
            assert (page.parent / unquote(link)).resolve().is_file(), link


def test_a_failed_render_keeps_the_previous_site(
    fx: Fixture, site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (site_dir / "index.html").read_bytes()
    original = jinja2.Template.render

    def broken(self: jinja2.Template, *args: object, **kwargs: object) -> str:
        if self.name == "history.html":
            raise RuntimeError("template exploded")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", broken)
    with pytest.raises(RuntimeError, match="template exploded"):
        build_site(fx.store, site_dir)
    assert (site_dir / "index.html").read_bytes() == before
    assert not [p for p in site_dir.parent.iterdir() if p.name.startswith(".site")]


def test_a_failed_write_keeps_the_previous_site(
    fx: Fixture, site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()}

    def no_plotly() -> Path:
        raise HarnessError("plotly.js not found")

    monkeypatch.setattr(site, "plotly_js_path", no_plotly)
    with pytest.raises(HarnessError):
        build_site(fx.store, site_dir)
    assert {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()} == before
    assert not [p for p in site_dir.parent.iterdir() if p.name.startswith(".site")]


def test_a_folder_not_written_by_harness_is_never_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(HarnessError, match="not written by harness"):
        site.write_site({"index.html": "x"}, mine)
    assert (mine / "thesis.tex").read_text() == "precious"


def test_source_date_epoch_rebuilds_byte_for_byte(
    fx: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    first = build_site(fx.store, tmp_path / "a").parent
    second = build_site(fx.store, tmp_path / "b").parent
    assert _contents(first) == _contents(second)
    assert "generated 2026-01-01 00:00 UTC" in (first / "index.html").read_text()


def test_pages_rendered_by_worker_processes_are_the_same(
    fx: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    alone = render(fx.store, workers=1)
    monkeypatch.setattr(candidate_pages, "PARALLEL_PAGES", 1)
    monkeypatch.setattr(candidate_pages, "PAGE_CHUNK", 7)
    assert render(fx.store, workers=2) == alone
    pages = sorted(k for k in alone if k.startswith("candidates/"))
    assert len(pages) == len(fx.store.candidates(fx.run_ids[-1]))
    for workers in (1, 2):  # written straight into the site's folder, by workers or here
        folder = tmp_path / f"workers-{workers}"
        rest = render(fx.store, workers=workers, pages_folder=folder)
        written = _contents(folder)
        assert sorted(written) == pages
        assert {**rest, **{k: v.decode() for k, v in written.items()}} == alone
    # build_site (pages written as they render) and write_site (all at the end) agree.
    built = build_site(fx.store, tmp_path / "built").parent
    written_at_end = site.write_site(alone, tmp_path / "at-end")
    assert _contents(built) == _contents(written_at_end)


def _contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_results_csv_defuses_spreadsheet_formulas() -> None:
    from harness.store.results import CandidateRecord

    record = CandidateRecord(
        key="k", dataset="d", model="=HYPERLINK(\"x\")", policy="+1", compression="c",
        runtime="onnxruntime", status="failed", error="@SUM(A1)", id=1,
    )  # fmt: skip
    row = next(csv.DictReader(io.StringIO(results_files.results_csv([record], set()))))
    assert row["model"] == '\'=HYPERLINK("x")'
    assert (row["policy"], row["error"], row["compression"]) == ("'+1", "'@SUM(A1)", "c")

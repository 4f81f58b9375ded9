"""Render the static site of one run from the results store.

`render` returns every page and data file as {relative path: content}; `build_site` hands
them to `write_site`, which swaps the new site in only once all of it is written.
Tables with more than INLINE_ROWS rows are embedded as JSON and built in the browser by
table.js, so a 10,000-candidate leaderboard stays a few MB; every candidate still gets a page.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.resources import files as package_files
from multiprocessing import get_context
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from harness.errors import StoreError
from harness.measure.lifeline import die_with_parent
from harness.report import ties
from harness.report.compare import NoiseInputs
from harness.report.conditions import run_conditions
from harness.report.data import (
    candidate_href,
    stored_budgets,
)
from harness.report.history import (
    HistoryPoint,
    Series,
    SeriesLabel,
    history_series,
)
from harness.report.noise import same_file_changes
from harness.report.pages import Context, candidate_page, index_page
from harness.report.results_files import results_csv, results_json
from harness.report.run_pages import history_page, run_page, runs_page
from harness.report.site import SiteFile, write_site
from harness.store.liveness import shown_status
from harness.store.results import CandidateRecord, Store
from harness.train.previews import mosaic_png, slug

INLINE_ROWS = 1000  # larger tables are embedded as JSON and built by table.js
ASSETS = ("site.css", "table.js")
PARALLEL_PAGES = 500  # from this many candidates on, their pages render in worker processes
PAGE_CHUNK = 250


def build_site(store: Store, out_dir: Path, run_id: int | None = None) -> Path:
    """Render the site for run_id (default: the latest run) from the store and write it;
    returns out_dir / "index.html"."""
    write_site(render(store, run_id), Path(out_dir))
    return Path(out_dir) / "index.html"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(package_files("harness.templates"))),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.policies["json.dumps_kwargs"] = {
        "separators": (",", ":"),
        "ensure_ascii": False,  # pages are UTF-8; \u00b7 for every "·" would bloat them
        "allow_nan": False,
    }
    return env


def generated_at() -> str:
    """Now, or SOURCE_DATE_EPOCH when set, so a rebuild is byte-for-byte identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render(
    store: Store,
    run_id: int | None = None,
    *,
    inline_rows: int = INLINE_ROWS,
    workers: int | None = None,
) -> dict[str, SiteFile]:
    """Every file of the site except plotly.js, keyed by path relative to the site root.

    Candidate pages of a large run render in `workers` forked processes (default: one per
    usable core) while this one renders the rest; the result is the same either way."""
    runs = tuple(  # a run left `running` by a killed sweep shows as interrupted
        replace(r, status=shown_status(store.path, r.status, r.config_hash)) for r in store.runs()
    )
    if not runs:
        raise StoreError(f"no runs in {store.path}; run 'harness run' or 'harness sweep' first")
    if run_id is None:  # the latest sweep; a store of bench runs only shows its latest bench
        run_id = store.latest_run_id() or runs[-1].id
    run = store.run(run_id)
    ctx = Context(run, runs, generated_at(), inline_rows)
    # History follows runs of the shown run's kind: a bench is not a point of a sweep series.
    machines = {r.id: r.machine_hash for r in runs if r.kind == run.kind}
    with _gc_paused():
        records = store.candidates(run.id)
        points = history_points(store, machines, run.id)
        series = history_series(points, run.machine_hash)
    by_key = {s.label.key: s for s in series}
    models = _model_files(records)
    env = environment()

    pages = CandidatePages(ctx, env.get_template("candidate.html"), records, by_key, models)
    with _frozen_gc(), _page_pool(pages, len(records), workers) as pool:
        pending = pool.starmap_async(_render_pages, _chunks(len(records))) if pool else None
        out = _site_pages(ctx, env, store, records, series, models)
        out.update(pages.render(0, len(records)) if pending is None else _joined(pending.get()))
    return out


def _site_pages(
    ctx: Context,
    env: Environment,
    store: Store,
    records: list[CandidateRecord],
    series: list[Series],
    models: dict[int, tuple[str, Path]],
) -> dict[str, SiteFile]:
    """Everything but the candidate pages."""
    front_ids = {r.id for r in ties.front(records)}
    counts = store.candidate_counts()  # one pass over the (run_id, status) index
    previews = _previews(store, ctx.run.id)
    out: dict[str, SiteFile] = {
        "index.html": env.get_template("index.html").render(
            index_page(
                ctx,
                records,
                front_ids,
                series,
                previews,
                stored_budgets(store.extra(ctx.run.id, "report")),
            )  # fmt: skip
        ),
        "history.html": env.get_template("history.html").render(history_page(ctx, series, records)),
        "runs.html": env.get_template("runs.html").render(runs_page(ctx, counts)),
        "results.json": results_json(ctx.run, ctx.generated, records, front_ids, models),
        "results.csv": results_csv(records, front_ids),
    }
    run_template = env.get_template("run.html")
    for each in ctx.runs:
        measured = store.candidates(each.id) if each.kind == "bench" else []
        conditions = run_conditions(
            store.rounds(each.id),
            int(each.machine.get("usable_cores") or each.machine.get("cores") or 1),
        )
        out[f"runs/{each.id}.html"] = run_template.render(
            run_page(ctx, each, counts.get(each.id, (0, 0)), measured, conditions)
        )
    for preview in previews:
        out[preview["src"]] = preview["png"]
    for name in ASSETS:
        out[f"assets/{name}"] = (package_files("harness.templates") / name).read_bytes()
    for name, path in models.values():
        out[f"models/{name}"] = path
    return out


@dataclass(frozen=True)
class CandidatePages:
    """What the candidate pages need; forked workers inherit it rather than unpickle it."""

    ctx: Context
    template: Template
    records: list[CandidateRecord]
    series: dict[str, Series]
    models: dict[int, tuple[str, Path]]

    def render(self, start: int, stop: int) -> list[tuple[str, str]]:
        return [
            (
                candidate_href(r),
                self.template.render(
                    candidate_page(
                        self.ctx,
                        r,
                        self.series.get(r.key),
                        self.models.get(r.id) if r.id is not None else None,
                    )
                ),
            )
            for r in self.records[start:stop]
        ]


_worker_pages: CandidatePages | None = None  # set once in each worker by its initializer


def _start_worker(pages: CandidatePages, parent: int) -> None:
    global _worker_pages
    die_with_parent(parent)  # a forked worker would otherwise wait forever on a killed parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool
    _worker_pages = pages


def _render_pages(start: int, stop: int) -> list[tuple[str, str]]:
    assert _worker_pages is not None, "a page worker runs only after _start_worker"
    return _worker_pages.render(start, stop)


def _chunks(n: int) -> list[tuple[int, int]]:
    return [(i, min(i + PAGE_CHUNK, n)) for i in range(0, n, PAGE_CHUNK)]


def _joined(parts: list[list[tuple[str, str]]]) -> dict[str, str]:
    return {path: page for part in parts for path, page in part}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collections while loading rows: they make no reference cycles, and collections
    triggered by their millions of new objects would take a third of the loading time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _frozen_gc() -> Iterator[None]:
    """Keep the garbage collector off the loaded rows while rendering: millions of objects
    that live to the end would make every full collection walk them (a quarter of the
    time of a 10,000-candidate render), and forked workers keep sharing their pages."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _page_pool(pages: CandidatePages, count: int, workers: int | None) -> Iterator[Pool | None]:
    """Forked workers for a large run on Linux (fork is unsafe on macOS and missing on
    Windows); None means render here."""
    if workers is None:
        workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if workers < 2 or count < PARALLEL_PAGES or not sys.platform.startswith("linux"):
        yield None
        return
    with get_context("fork").Pool(workers, _start_worker, (pages, os.getpid())) as pool:
        yield pool


def history_points(
    store: Store, machines: dict[int, str], up_to: int
) -> dict[SeriesLabel, list[HistoryPoint]]:
    """Every stored candidate of runs up to `up_to`, reduced to what the history draws."""
    columns = (
        "run_id", "key", "model", "policy", "compression", "runtime", "status",
        "accuracy", "file_bytes", "latency_p50_ms", "artifact_sha256", "runtime_version",
    )  # fmt: skip
    labels: dict[str, SeriesLabel] = {}
    points: dict[str, list[HistoryPoint]] = {}
    for run_id, key, model, policy, compression, runtime, *values in store.metric_rows(
        columns, up_to
    ):
        if run_id not in machines:
            continue
        if key not in labels:
            labels[key] = SeriesLabel(key, model, policy, compression, runtime)
            points[key] = []
        points[key].append(HistoryPoint(run_id, machines[run_id], *values))
    return {labels[key]: pts for key, pts in points.items()}


def noise_inputs(store: Store, base: int, head: int) -> NoiseInputs:
    """The two runs' round p50s and, per runtime, the same-file p50 changes of every series
    up to `head` on its machine: what `compare` judges latency changes against."""
    kind = store.run(head).kind
    machines = {r.id: r.machine_hash for r in store.runs() if r.kind == kind}
    history: dict[str, list[float]] = {}
    for label, points in history_points(store, machines, head).items():
        # (run, machine, status, p50, sha256, runtime version) of each point
        rows = [(p.run_id, p.machine_hash, p.status, *p[5:8]) for p in points]
        history.setdefault(label.runtime, []).extend(same_file_changes(rows, machines[head]))

    def p50s(run_id: int) -> dict[str, list[float]]:
        return {k: [r["p50_ms"] for r in v] for k, v in store.rounds(run_id).items()}

    return NoiseInputs(p50s(base), p50s(head), history)


def _model_files(records: Sequence[CandidateRecord]) -> dict[int, tuple[str, Path]]:
    """candidate id -> (file name under models/, source) for artifacts that still exist."""
    names: dict[str, Path] = {}
    found: dict[int, tuple[str, Path]] = {}
    for record in records:
        if not record.artifact or record.id is None:
            continue
        path = Path(record.artifact)
        if not path.is_file():
            continue
        name = path.name
        if names.get(name, path) != path:  # same name, different file: keep both
            name = f"{record.id}-{name}"
        names[name] = path
        found[record.id] = (name, path)
    return found


def _previews(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The run's augmentation previews as PNG files (none for tabular data)."""
    stored = store.extra(run_id, "policy_previews") or []
    return [
        {
            "name": p["name"],
            "describe": p["describe"],
            "src": f"previews/run{run_id}-{i}-{slug(p['name'])}.png",
            "png": mosaic_png(p["pixels"]),
        }
        for i, p in enumerate(stored)
    ]

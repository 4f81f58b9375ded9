"""Render the static site of one run from the results store.

`render` returns every page and data file as {relative path: content}; `build_site` writes
them into a staging folder (the candidate pages as they render, harness.report.
candidate_pages) that replaces the site only once all of it is written.
Tables with more than INLINE_ROWS rows are embedded as JSON and built in the browser by
table.js, so a 10,000-candidate leaderboard stays a few MB; every candidate still gets a page.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from harness.errors import StoreError
from harness.report import ties
from harness.report.candidate_pages import CandidatePages, rendering
from harness.report.conditions import run_conditions
from harness.report.data import stored_budgets
from harness.report.history import Series, history_series
from harness.report.history_rows import history_points
from harness.report.pages import Context, index_page
from harness.report.results_files import results_csv, results_json
from harness.report.run_pages import history_page, run_page, runs_page
from harness.report.site import SiteFile, staged_site, write_files
from harness.store.liveness import shown_status
from harness.store.results import CandidateRecord, Store
from harness.train.previews import mosaic_png, slug

INLINE_ROWS = 1000  # larger tables are embedded as JSON and built by table.js
ASSETS = ("site.css", "table.js")


def build_site(store: Store, out_dir: Path, run_id: int | None = None) -> Path:
    """Render the site for run_id (default: the latest run) from the store and write it;
    returns out_dir / "index.html". The candidate pages go straight into the new site's
    folder as they render; the rest follows; the folder replaces out_dir at the end."""
    with staged_site(Path(out_dir)) as staging:
        write_files(render(store, run_id, pages_folder=staging), staging)
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
    pages_folder: Path | None = None,
) -> dict[str, SiteFile]:
    """Every file of the site except plotly.js, keyed by path relative to the site root;
    with `pages_folder`, the candidate pages are written there instead of returned.

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
        series = history_series(points, run.machine_hash, run.id)
    by_key = {s.label.key: s for s in series}
    models = _model_files(records)
    env = environment()

    pages = CandidatePages(ctx, env.get_template("candidate.html"), records, by_key, models)
    with rendering(pages, pages_folder, workers) as candidate_pages:
        out = _site_pages(ctx, env, store, records, series, models)
        for part in candidate_pages:
            out.update(part)
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

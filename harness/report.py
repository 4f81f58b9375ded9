"""Render the static site of one run from the results store.

`render` returns every page and data file as {relative path: content}; `build_site` hands
them to `write_site`, which swaps the new site in only once all of it is written.
Tables with more than INLINE_ROWS rows are embedded as JSON and built in the browser by
table.js, so a 10,000-candidate leaderboard stays a few MB; every candidate still gets a page.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files as package_files
from multiprocessing import get_context
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from harness import __version__, charts
from harness.errors import StoreError
from harness.previews import mosaic_png, slug
from harness.report_data import (
    MISSING,
    HistoryPoint,
    Series,
    SeriesLabel,
    budget_picks,
    candidate_href,
    fmt_acc_ci,
    fmt_delta_pt,
    fmt_int,
    fmt_kb,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    fmt_sci,
    fmt_seconds,
    fmt_si,
    fmt_spec,
    fmt_time,
    fp32_baselines,
    history_series,
    history_table,
    leaderboard_table,
    pareto_front,
)
from harness.results_files import results_csv, results_json
from harness.site import SiteFile, write_site
from harness.store import CandidateRecord, Run, Store

INLINE_ROWS = 1000  # larger tables are embedded as JSON and built by table.js
# history.html charts every regressed series (up to HISTORY_CHARTS), and at least the
# HISTORY_MIN_CHARTS first; every candidate page charts its own series.
HISTORY_CHARTS = 30
HISTORY_MIN_CHARTS = 6
ASSETS = ("site.css", "table.js")
PARALLEL_PAGES = 500  # from this many candidates on, their pages render in worker processes
PAGE_CHUNK = 250
Pairs = list[tuple[str, str]]


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


@dataclass(frozen=True)
class Context:
    """What every page of one render shares."""

    run: Run
    runs: tuple[Run, ...]
    generated: str
    inline_rows: int

    def page(self, root: str, nav: str, **values: Any) -> dict[str, Any]:
        return {
            "root": root, "nav": nav, "run": self.run, "generated": self.generated,
            "version": __version__, "latest_id": self.runs[-1].id, **values,
        }  # fmt: skip


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
    runs = tuple(store.runs())
    if not runs:
        raise StoreError(f"no runs in {store.path}; run 'harness run' or 'harness sweep' first")
    run = store.run(run_id) if run_id is not None else runs[-1]
    ctx = Context(run, runs, generated_at(), inline_rows)
    machines = {r.id: r.machine_hash for r in runs}
    with _gc_paused():
        records = store.candidates(run.id)
        points = _history_points(store, machines, run.id)
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
    front_ids = {r.id for r in pareto_front(records)}
    previews = _previews(store, ctx.run.id)
    out: dict[str, SiteFile] = {
        "index.html": env.get_template("index.html").render(
            _index(ctx, records, front_ids, series, previews)
        ),
        "history.html": env.get_template("history.html").render(_history(ctx, series, records)),
        "runs.html": env.get_template("runs.html").render(_runs(ctx, store)),
        "results.json": results_json(ctx.run, ctx.generated, records, front_ids, models),
        "results.csv": results_csv(records, front_ids),
    }
    run_page = env.get_template("run.html")
    counts = store.candidate_counts()
    for each in ctx.runs:
        out[f"runs/{each.id}.html"] = run_page.render(_run(ctx, each, counts.get(each.id, (0, 0))))
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
                    _candidate(self.ctx, r, self.series.get(r.key), self.models.get(r.id))
                ),
            )
            for r in self.records[start:stop]
        ]


_worker_pages: CandidatePages | None = None  # set once in each worker by its initializer


def _start_worker(pages: CandidatePages) -> None:
    global _worker_pages
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
    with get_context("fork").Pool(workers, _start_worker, (pages,)) as pool:
        yield pool


def _history_points(
    store: Store, machines: dict[int, str], up_to: int
) -> dict[SeriesLabel, list[HistoryPoint]]:
    """Every stored candidate of runs up to `up_to`, reduced to what the history draws."""
    columns = (
        "run_id", "key", "model", "policy", "compression", "runtime", "status",
        "accuracy", "file_bytes", "latency_p50_ms",
    )  # fmt: skip
    labels: dict[str, SeriesLabel] = {}
    points: dict[str, list[HistoryPoint]] = {}
    for run_id, key, model, policy, compression, runtime, *values in store.metric_rows(
        columns, up_to
    ):
        if key not in labels:
            labels[key] = SeriesLabel(key, model, policy, compression, runtime)
            points[key] = []
        points[key].append(HistoryPoint(run_id, machines[run_id], *values))
    return {labels[key]: pts for key, pts in points.items()}


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


def _index(
    ctx: Context,
    records: list[CandidateRecord],
    front_ids: set[int | None],
    series: list[Series],
    previews: list[dict[str, Any]],
) -> dict[str, Any]:
    ok = sum(r.status == "ok" for r in records)
    baselines = fp32_baselines(records)
    picks = [
        {
            "label": p.budget.label,
            "record": p.pick,
            "href": candidate_href(p.pick) if p.pick else None,
            "summary": _summary(p.pick) if p.pick else {},
            "versus": _versus(p.pick, p.baseline) if p.pick else MISSING,
        }
        for p in budget_picks(records)
    ]
    regressed = [s for s in series if s.latest_regressions() and s.points[-1].run_id == ctx.run.id]
    figures = {
        "size": charts.accuracy_scatter(records, "file_bytes", "file size (KB, log)", "%{x:.1f} KB"),
        "latency": charts.accuracy_scatter(records, "latency_p50_ms", "p50 latency (ms, log)", "p50 %{x:.3g} ms"),
        "heatmap": charts.accuracy_heatmap(records),
        "box": charts.latency_box(records),
    }  # fmt: skip
    return ctx.page(
        "",
        "index",
        title=f"Leaderboard · run {ctx.run.id}",
        counts={"total": len(records), "ok": ok, "failed": len(records) - ok},
        datasets=", ".join(sorted({r.dataset for r in records})) or MISSING,
        started=fmt_time(ctx.run.started_at),
        cpu=str(ctx.run.machine.get("cpu", MISSING)),
        front_count=len(front_ids),
        baselines=[
            {"record": r, "href": candidate_href(r), "summary": _summary(r)}
            for r in baselines.values()
        ],
        picks=picks,
        regressed=len(regressed),
        figures=figures,
        previews=previews,
        table=leaderboard_table(records, front_ids, len(records) <= ctx.inline_rows),
    )


def _summary(r: CandidateRecord) -> dict[str, str]:
    m = r.metric
    return {
        "accuracy": fmt_acc_ci(m("accuracy"), m("accuracy_low"), m("accuracy_high")),
        "file": fmt_kb(m("file_bytes")),
        "p50": fmt_ms(m("latency_p50_ms")),
    }


def _versus(pick: CandidateRecord, base: CandidateRecord | None) -> str:
    if base is None:
        return "no fp32 baseline for this model and runtime"
    if base.id == pick.id:
        return "is the fp32 baseline"
    acc = pick.metric("accuracy"), base.metric("accuracy")
    delta = fmt_delta_pt(acc[0] - acc[1]) if None not in acc else MISSING
    size = fmt_ratio(base.metric("file_bytes"), pick.metric("file_bytes"), "smaller", "larger")
    speed = fmt_ratio(
        base.metric("latency_p50_ms"), pick.metric("latency_p50_ms"), "faster", "slower"
    )
    return f"{delta}, {size}, {speed} than fp32"


def _candidate(
    ctx: Context, r: CandidateRecord, series: Series | None, model: tuple[str, Path] | None
) -> dict[str, Any]:
    d = r.details
    figures: dict[str, Any] = {}
    if d.get("confusion"):
        figures["confusion"] = charts.confusion_heatmap(d["confusion"], d.get("classes", []))
    samples = (d.get("latency") or {}).get("samples_ms") or []
    if samples:
        marks = {p: r.metric(f"latency_{p}_ms") for p in ("p50", "p90", "p99")}
        figures["histogram"] = charts.latency_histogram(samples, marks)
    if series and len(series.points) > 1:
        figures["trend"] = charts.trend(series, ctx.run.machine_hash)
    label = f"{r.model} · {r.policy} · {r.compression} · {r.runtime}"
    return ctx.page(
        "../",
        "candidate",
        title=label,
        c=r,
        label=label,
        sections=_candidate_sections(r),
        per_class=[
            {
                "label": str(row.get("label", "")),
                "precision": fmt_pct(row.get("precision")),
                "recall": fmt_pct(row.get("recall")),
                "f1": fmt_pct(row.get("f1")),
                "support": fmt_int(row.get("support")),
            }
            for row in d.get("per_class", [])
        ],
        binary=d.get("binary"),
        notes=[fmt_spec(n) for n in d.get("compression_notes", [])],
        figures=figures,
        model_href=f"../models/{quote(model[0])}" if model else None,
        model_name=model[0] if model else None,
        card=_model_card(ctx, r),
        other_machine=_other_machine(series, ctx.run.machine_hash),
    )


def _candidate_sections(r: CandidateRecord) -> list[tuple[str, Pairs]]:
    d, m = r.details, r.metric
    runtime = d.get("runtime_info") or {}
    training = d.get("training") or {}
    latency = d.get("latency") or {}
    nonzeros, params = m("nonzeros"), m("params")
    settings = [
        ("dataset", r.dataset),
        ("model", f"{r.model} ({fmt_spec(d['model_spec'])})" if d.get("model_spec") else r.model),
        ("policy", r.policy),
        ("augmentation", str(d.get("policy_describe") or fmt_spec(d.get("policy_spec", {})))),
        ("compression", r.compression),
        ("passes", fmt_spec(d.get("compression_spec", []))),
        ("runtime", " ".join(str(v) for v in (r.runtime, runtime.get("version")) if v)),
        ("runtime settings", fmt_spec(runtime.get("settings", {}))),
        ("series key", r.key),
    ]
    train = [
        ("epochs", str(training.get("epochs", MISSING))),
        ("best epoch", str(training.get("best_epoch", MISSING))),
        ("best validation accuracy", fmt_pct(training.get("best_val_accuracy"))),
        ("training time", fmt_seconds(training.get("train_seconds"))),
        ("seed", str(training.get("seed", MISSING))),
    ]
    accuracy = [
        ("accuracy [95% CI]", fmt_acc_ci(m("accuracy"), m("accuracy_low"), m("accuracy_high"))),
        ("robust accuracy", fmt_pct(m("robust_accuracy"))),
        ("test samples", fmt_int(m("n_test"))),
    ]
    timing = [
        ("mean ± std", f"{fmt_ms(m('latency_mean_ms'))} ± {fmt_ms(m('latency_std_ms'))}"),
        *((name, fmt_ms(m(f"latency_{name}_ms"))) for name in ("min", "p50", "p90", "p99")),
        ("throughput", f"{fmt_si(m('throughput_per_s'))} / s" if m("throughput_per_s") else MISSING),
        ("model load", fmt_ms(m("load_ms"))),
        ("peak memory", f"{m('peak_rss_mb'):.1f} MB" if m("peak_rss_mb") else MISSING),
        *((k, fmt_int(latency.get(k))) for k in ("runs", "warmup", "threads", "batch")),
    ]  # fmt: skip
    size = [
        ("file", fmt_kb(m("file_bytes"))),
        ("compressed (zlib)", fmt_kb(m("compressed_bytes"))),
        ("parameters", fmt_int(params)),
        ("non-zeros", fmt_int(nonzeros) + (f" ({fmt_pct(1 - nonzeros / params)} sparse)" if params and nonzeros is not None else "")),
        ("MACs", fmt_si(m("macs"))),
        *((f"  {k}", fmt_kb(v)) for k, v in sorted((d.get("size_breakdown") or {}).items())),
    ]  # fmt: skip
    sections = [
        ("Settings", settings), ("Training", train), ("Accuracy", accuracy),
        ("Latency", timing), ("Size", size),
    ]  # fmt: skip
    for note in d.get("compression_notes") or []:
        if note.get("pass") == "finetune":
            sections.append(
                (
                    "Fine-tuning after compression",
                    [
                        ("mirrored in PyTorch", ", ".join(note.get("mirrored", [])) or MISSING),
                        ("validation accuracy before", fmt_pct(note.get("val_accuracy_before"))),
                        ("validation accuracy after", fmt_pct(note.get("val_accuracy_after"))),
                        ("epochs (best)", f"{note.get('epochs_run')} ({note.get('best_epoch')})"),
                    ],
                )
            )
    for size, stats in (d.get("latency_batches") or {}).items():
        at_size = [
            (name, fmt_ms(stats.get(f"latency_{name}_ms"))) for name in ("p50", "p90", "p99")
        ]
        at_size.append(("throughput", f"{fmt_si(stats.get('throughput_per_s'))} / s"))
        at_size.append(("runs", fmt_int(stats.get("runs"))))
        sections.append((f"Latency at batch {size}", at_size))
    if m("parity_max_abs") is not None or m("parity_agreement") is not None:
        parity = [
            ("max |Δ output| vs ONNX Runtime", fmt_sci(m("parity_max_abs"))),
            ("top-1 agreement", fmt_pct(m("parity_agreement"))),
        ]
        sections.append(("Runtime parity", parity))
    return sections


def _model_card(ctx: Context, r: CandidateRecord) -> Pairs:
    machine = ctx.run.machine
    m = r.metric
    return [
        ("Dataset", r.dataset),
        ("Model", r.model),
        ("Augmentation policy", r.policy),
        ("Compression", r.compression),
        ("Runtime", r.runtime),
        ("Accuracy", fmt_acc_ci(m("accuracy"), m("accuracy_low"), m("accuracy_high"))),
        ("Size", f"{fmt_kb(m('file_bytes'))} ({fmt_int(m('params'))} parameters)"),
        ("Latency", f"p50 {fmt_ms(m('latency_p50_ms'))}, p90 {fmt_ms(m('latency_p90_ms'))}"),
        ("Measured on", f"{machine.get('cpu', MISSING)}, {machine.get('cores', MISSING)} cores, {machine.get('os', MISSING)}"),
        ("Run", f"{ctx.run.id}, {fmt_time(ctx.run.started_at)}, edge-harness {ctx.run.harness_version}"),
    ]  # fmt: skip


def _other_machine(series: Series | None, machine_hash: str) -> int:
    if series is None:
        return 0
    return sum(p.status == "ok" and p.machine_hash != machine_hash for p in series.points)


def _history(ctx: Context, series: list[Series], records: list[CandidateRecord]) -> dict[str, Any]:
    hrefs = {r.key: candidate_href(r) for r in records}
    machine = ctx.run.machine_hash
    regressed = sum(bool(s.regressions) for s in series)  # history_series sorts these first
    charted = [
        {
            "label": s.label,
            "href": hrefs.get(s.label.key),
            "regressions": [f"run {g.run_id}: {g.text}" for g in s.regressions],
            "figure": charts.trend(s, machine),
            "other_machine": _other_machine(s, machine),
        }
        for s in series[: min(HISTORY_CHARTS, max(HISTORY_MIN_CHARTS, regressed))]
    ]
    return ctx.page(
        "",
        "history",
        title="History",
        run_count=len({p.run_id for s in series for p in s.points}),
        series_count=len(series),
        regressed=sum(bool(s.latest_regressions()) for s in series),
        charted=charted,
        charted_regressed=min(regressed, len(charted)),
        table=history_table(series, hrefs, machine, len(series) <= ctx.inline_rows),
    )


def _runs(ctx: Context, store: Store) -> dict[str, Any]:
    counts = store.candidate_counts()
    rows = [
        {
            "run": r,
            "started": fmt_time(r.started_at),
            "finished": fmt_time(r.finished_at),
            "config": str(r.config.get("name", MISSING)),
            "ok": counts.get(r.id, (0, 0))[0],
            "failed": counts.get(r.id, (0, 0))[1],
            "cpu": str(r.machine.get("cpu", MISSING)),
            "same_machine": r.machine_hash == ctx.run.machine_hash,
        }
        for r in reversed(ctx.runs)
    ]
    return ctx.page("", "runs", title="Runs", rows=rows)


def _run(ctx: Context, run: Run, counts: tuple[int, int]) -> dict[str, Any]:
    machine = {k: v for k, v in run.machine.items() if k != "versions"}
    total = run.timings.get("total") or sum(run.timings.values())
    return ctx.page(
        "../",
        "runs",
        title=f"Run {run.id}",
        shown=run,
        started=fmt_time(run.started_at),
        finished=fmt_time(run.finished_at),
        ok=counts[0],
        failed=counts[1],
        config=json.dumps(run.config, indent=2, sort_keys=True),
        machine=[(k, str(v)) for k, v in sorted(machine.items())],
        versions=sorted((k, str(v)) for k, v in (run.machine.get("versions") or {}).items()),
        timings=[
            (stage, fmt_seconds(s), fmt_pct(s / total) if total and stage != "total" else "")
            for stage, s in run.timings.items()
        ],
    )

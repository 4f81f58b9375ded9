"""What each page of the site shows: the template values of the leaderboard, candidate,
history and run pages, built from stored records (pure: no I/O but the store's queries)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from harness import __version__
from harness.report import arithmetic, charts, detail_charts, scores, task_charts, ties
from harness.report.data import (
    budget_picks,
    candidate_href,
    failure_groups,
    fp32_baselines,
    leaderboard_table,
)
from harness.report.formats import (
    MISSING,
    fmt_acc_ci,
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
    operator_rows,
    status_counts,
)
from harness.report.history import (
    Series,
)
from harness.report.training_steps import step_curves, step_notes, step_sections
from harness.specs import DEFAULT_BUDGETS, BudgetSpec
from harness.store.results import CandidateRecord, Run

Pairs = list[tuple[str, str]]


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


FAILED_LISTED = 12  # candidates named per failure reason; the rest are counted


def index_page(
    ctx: Context,
    records: list[CandidateRecord],
    front_ids: set[int | None],
    series: list[Series],
    previews: list[dict[str, Any]],
    budgets: Sequence[BudgetSpec] = DEFAULT_BUDGETS,
) -> dict[str, Any]:
    ok = sum(r.status == "ok" for r in records)
    peak = ctx.run.machine.get("peak_macs_per_s")  # runs stored before it was measured lack it
    baselines = fp32_baselines(records)
    picks = [
        {
            "label": p.budget.label,
            "record": p.pick,
            "href": candidate_href(p.pick) if p.pick else None,
            "summary": summary(p.pick) if p.pick else {},
            "versus": _versus(p.pick, p.baseline) if p.pick else MISSING,
            "tied": p.tied,
        }
        for p in budget_picks(records, budgets)
    ]
    regressed = [s for s in series if s.latest_regressions() and s.points[-1].run_id == ctx.run.id]
    has_classifier = "classify" in (scores.tasks_in(records) or ["classify"])
    figures = {
        "scatters": task_charts.scatters(records),
        # Accuracy per policy and compression: only where a classifier was measured.
        "heatmap": charts.accuracy_heatmap(records) if has_classifier else None,
        "box": charts.latency_box(records),
    }  # fmt: skip
    return ctx.page(
        "",
        "index",
        title=f"Leaderboard · run {ctx.run.id}",
        counts=status_counts(records, ok),
        datasets=", ".join(sorted({r.dataset for r in records})) or MISSING,
        started=fmt_time(ctx.run.started_at),
        cpu=str(ctx.run.machine.get("cpu", MISSING)),
        front_count=len(front_ids),
        score_label=scores.score_label(records),
        baselines=[
            {"record": r, "href": candidate_href(r), "summary": summary(r)}
            for r in baselines.values()
        ],
        picks=picks,
        failures=[
            {
                "reason": g.reason,
                "count": len(g.records),
                "candidates": [
                    {
                        "label": f"{r.model} · {r.policy} · {r.compression} · {r.runtime}",
                        "href": candidate_href(r),
                    }
                    for r in g.records[:FAILED_LISTED]
                ],  # fmt: skip
                "more": max(0, len(g.records) - FAILED_LISTED),
            }
            for g in failure_groups(records)
        ],
        regressed=len(regressed),
        inconclusive=sum(
            bool(s.latest_inconclusive()) and s.points[-1].run_id == ctx.run.id for s in series
        ),
        tie_rule=ties.RULE_TEXT,
        figures=figures,
        previews=previews,
        peak=fmt_si(peak) if peak else None,
        table=leaderboard_table(records, front_ids, len(records) <= ctx.inline_rows, peak),
    )


def summary(r: CandidateRecord) -> dict[str, str]:
    m = r.metric
    return {
        "accuracy": fmt_acc_ci(m("accuracy"), m("accuracy_low"), m("accuracy_high")),
        "score": scores.score_of(r).text(r),
        "file": fmt_kb(m("file_bytes")),
        "p50": fmt_ms(m("latency_p50_ms")),
    }


def _versus(pick: CandidateRecord, base: CandidateRecord | None) -> str:
    if base is None:
        return "no fp32 baseline for this model and runtime"
    if base.id == pick.id:
        return "is the fp32 baseline"
    delta = scores.score_change(pick, base)
    size = fmt_ratio(base.metric("file_bytes"), pick.metric("file_bytes"), "smaller", "larger")
    speed = fmt_ratio(
        base.metric("latency_p50_ms"), pick.metric("latency_p50_ms"), "faster", "slower"
    )
    return ", ".join(p for p in (delta, size, speed) if p) + " than fp32"


class ClassRow(NamedTuple):
    """A row of the per-class table. A tuple, not a dict: Jinja reads `row.label` as an
    attribute first, and on a dict that costs an exception per cell, 50 cells a page."""

    label: str
    precision: str
    recall: str
    f1: str
    support: str


def candidate_page(
    ctx: Context, r: CandidateRecord, series: Series | None, model: tuple[str, Path] | None
) -> dict[str, Any]:
    d = r.details
    figures: dict[str, Any] = {}
    if d.get("confusion"):
        figures["confusion"] = detail_charts.confusion_heatmap(d["confusion"], d.get("classes", []))
    samples = (d.get("latency") or {}).get("samples_ms") or []
    if samples:
        marks = {p: r.metric(f"latency_{p}_ms") for p in ("p50", "p90", "p99")}
        figures["histogram"] = detail_charts.latency_histogram(samples, marks)
    if series and len(series.points) > 1:
        figures["trend"] = detail_charts.trend(series, ctx.run.machine_hash)
    label = f"{r.model} · {r.policy} · {r.compression} · {r.runtime}"
    curves = step_curves(d, figures)  # adds the loss curves to figures
    return ctx.page(
        "../",
        "candidate",
        title=label,
        c=r,
        label=label,
        sections=_candidate_sections(r),
        per_class=[
            ClassRow(
                str(row.get("label", "")),
                fmt_pct(row.get("precision")),
                fmt_pct(row.get("recall")),
                fmt_pct(row.get("f1")),
                fmt_int(row.get("support")),
            )
            for row in d.get("per_class", [])
        ],
        binary=d.get("binary"),
        notes=step_notes(d),
        figures=figures,
        curves=curves,
        model_href=f"../models/{quote(model[0])}" if model else None,
        model_name=model[0] if model else None,
        card=_model_card(ctx, r),
        other_machine=other_machine_runs(series, ctx.run.machine_hash),
        operators=operator_rows(d.get("operator_profile") or []),
    )


def _arithmetic_text(r: CandidateRecord) -> str:
    a = arithmetic.of_details(r.details)
    return f"{a.kind}: {a.explain}" if a.kind else a.explain


def _candidate_sections(r: CandidateRecord) -> list[tuple[str, Pairs]]:
    d, m = r.details, r.metric
    notes = d.get("compression_notes") or []
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
        ("arithmetic", _arithmetic_text(r)),
        *((("int8 weights", why),) if (why := arithmetic.cpu_choice(notes)) else ()),
        ("series key", r.key),
    ]
    train = [
        ("epochs", str(training.get("epochs", MISSING))),
        ("best epoch", str(training.get("best_epoch", MISSING))),
        ("best validation accuracy", fmt_pct(training.get("best_val_accuracy"))),
        ("training time", fmt_seconds(training.get("train_seconds"))),
        ("seed", str(training.get("seed", MISSING))),
    ]
    score = scores.score_of(r)
    timing = [
        ("mean ± std", f"{fmt_ms(m('latency_mean_ms'))} ± {fmt_ms(m('latency_std_ms'))}"),
        *((name, fmt_ms(m(f"latency_{name}_ms"))) for name in ("min", "p50", "p90", "p99")),
        ("throughput", f"{fmt_si(m('throughput_per_s'))} / s" if m("throughput_per_s") else MISSING),
        ("model load", fmt_ms(m("load_ms"))),
        ("model memory (added by loading it)", _mb((d.get("memory") or {}).get("model_rss_mb"))),
        ("worker peak memory (with Python and the runtime)", _mb(m("peak_rss_mb"))),
        *((k, fmt_int(latency.get(k))) for k in ("runs", "warmup", "threads", "batch")),
        ("p50 of each round", ", ".join(fmt_ms(v) for v in latency.get("round_p50_ms") or []) or MISSING),
        ("round-to-round spread", fmt_pct(latency.get("spread")) + " of the p50 (highest − lowest round)" if latency.get("round_p50_ms") else MISSING),
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
        ("Settings", settings), ("Training", train), (score.section, score.rows(r)),
        ("Latency", timing), ("Size", size), *step_sections(d),
    ]  # fmt: skip
    if d.get("parity"):  # a model with several outputs: each against ONNX Runtime's
        sections.append(("Parity with ONNX Runtime, per output", [
            (f"output {p['output']}", p.get("note") or
             f"max |diff| {fmt_sci(p.get('max_abs'))} ({fmt_sci(p.get('max_rel'))} of max |ref|)")
            for p in d["parity"]
        ]))  # fmt: skip
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
                        ("learning rate", f"{note['lr']:g}" if note.get("lr") else MISSING),
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


def _mb(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f} MB"


def _model_card(ctx: Context, r: CandidateRecord) -> Pairs:
    machine = ctx.run.machine
    m = r.metric
    score = scores.score_of(r)
    return [
        ("Dataset", r.dataset),
        ("Model", r.model),
        ("Augmentation policy", r.policy),
        ("Compression", r.compression),
        ("Runtime", r.runtime),
        ("Arithmetic", _arithmetic_text(r)),
        (score.title[:1].upper() + score.title[1:], score.text(r)),
        ("Size", f"{fmt_kb(m('file_bytes'))} ({fmt_int(m('params'))} parameters)"),
        ("Latency", f"p50 {fmt_ms(m('latency_p50_ms'))}, p90 {fmt_ms(m('latency_p90_ms'))}"),
        ("Measured on", f"{machine.get('cpu', MISSING)}, {machine.get('cores', MISSING)} cores, {machine.get('os', MISSING)}"),
        ("Run", f"{ctx.run.id}, {fmt_time(ctx.run.started_at)}, edge-harness {ctx.run.harness_version}"),
    ]  # fmt: skip


def other_machine_runs(series: Series | None, machine_hash: str) -> int:
    if series is None:
        return 0
    on = series.machine_hash or machine_hash
    return sum(p.status == "ok" and p.machine_hash != on for p in series.points)

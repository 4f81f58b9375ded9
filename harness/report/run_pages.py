"""The template values of the history, runs and run pages: a run's facts and how each
candidate's series moved across runs (pure: no I/O but the store's queries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.report import detail_charts
from harness.report.data import candidate_href, history_table
from harness.report.formats import MISSING, fmt_pct, fmt_seconds, fmt_time
from harness.report.history import Series
from harness.report.pages import Context, other_machine_runs, summary
from harness.store.results import CandidateRecord, Run

# history.html charts every regressed series (up to HISTORY_CHARTS), and at least the
# HISTORY_MIN_CHARTS first; every candidate page charts its own series.
HISTORY_CHARTS = 30
HISTORY_MIN_CHARTS = 6


def history_page(
    ctx: Context, series: list[Series], records: list[CandidateRecord]
) -> dict[str, Any]:
    hrefs = {r.key: candidate_href(r) for r in records}
    machine = ctx.run.machine_hash
    regressed = sum(bool(s.regressions) for s in series)  # history_series sorts these first
    charted = [
        {
            "label": s.label,
            "href": hrefs.get(s.label.key),
            "regressions": [f"run {g.run_id}: {g.text}" for g in s.regressions],
            "inconclusive": [f"run {g.run_id}: {g.text}" for g in s.inconclusive],
            "figure": detail_charts.trend(s, machine),
            "other_machine": other_machine_runs(s, machine),
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
        inconclusive=sum(bool(s.latest_inconclusive()) for s in series),
        charted=charted,
        charted_regressed=min(regressed, len(charted)),
        table=history_table(series, hrefs, machine, len(series) <= ctx.inline_rows),
    )


def runs_page(ctx: Context, counts: dict[int, tuple[int, int]]) -> dict[str, Any]:
    rows = [
        {
            "run": r,
            "started": fmt_time(r.started_at),
            "finished": fmt_time(r.finished_at),
            "config": str(r.config.get("name", MISSING)) if r.kind == "sweep" else "bench",
            "ok": counts.get(r.id, (0, 0))[0],
            "failed": counts.get(r.id, (0, 0))[1],
            "cpu": str(r.machine.get("cpu", MISSING)),
            "same_machine": r.machine_hash == ctx.run.machine_hash,
        }
        for r in reversed(ctx.runs)
    ]
    return ctx.page("", "runs", title="Runs", rows=rows)


def run_page(
    ctx: Context,
    run: Run,
    counts: tuple[int, int],
    measured: Sequence[CandidateRecord] = (),
    conditions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run's facts; a bench run (one file on each runtime) also lists what it measured;
    `conditions` (harness.report.conditions) how the machine behaved while it timed."""
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
        measured=[{"record": r, "summary": summary(r)} for r in measured],
        conditions=conditions or {"facts": [], "busy": 0, "rounds": 0},
    )

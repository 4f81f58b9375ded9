"""The leaderboard's trade-off charts, by task (harness.report.scores): accuracy against size
and latency for classifiers, MAE against them for regressors (lower is better, said on
the axis), and size against latency for models measured without a score. Each task's
candidates are drawn, and their Pareto front taken, on their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report import scores
from harness.report.axes import family_symbol, runtime_color
from harness.report.charts import (
    HOVER_NAMES_LIMIT,
    Figure,
    _axis,
    _layout,
    _log_axis,
    _round,
    _scale,
    accuracy_scatter,
    esc,
)
from harness.report.data import pareto_front
from harness.report.families import candidate_family
from harness.store.results import CandidateRecord


def scatters(records: Sequence[CandidateRecord]) -> list[dict[str, Any]]:
    """The charts of the tasks present, each {"id", "caption", "figure"}; a run with
    nothing measured gets the classifier's two (empty), as before tasks."""
    groups = {s.task: g for s, g in scores.by_task(records) if any(r.status == "ok" for r in g)}
    out: list[dict[str, Any]] = []
    if "classify" in groups or not groups:
        mine = groups.get("classify", list(records))
        out += [
            {"id": "chart-size", "caption": "Accuracy vs file size",
             "figure": accuracy_scatter(mine, "file_bytes")},
            {"id": "chart-latency", "caption": "Accuracy vs p50 latency",
             "figure": accuracy_scatter(mine, "latency_p50_ms")},
        ]  # fmt: skip
    if "regress" in groups:
        out += [
            {"id": "chart-error-size", "caption": "MAE vs file size (lower is better)",
             "figure": error_scatter(groups["regress"], "file_bytes")},
            {"id": "chart-error-latency", "caption": "MAE vs p50 latency (lower is better)",
             "figure": error_scatter(groups["regress"], "latency_p50_ms")},
        ]  # fmt: skip
    if "none" in groups:
        out.append(
            {"id": "chart-cost", "caption": "p50 latency vs file size (models without a score)",
             "figure": cost_scatter(groups["none"])}
        )  # fmt: skip
    return out


def _points(
    ok: Sequence[CandidateRecord], x: str, y: str, fx: float, fy: float, hover: str
) -> list[dict[str, Any]]:
    """One trace per (runtime, compression family), points carrying candidate ids."""
    named = len(ok) <= HOVER_NAMES_LIMIT
    groups: dict[tuple[str, str], list[CandidateRecord]] = {}
    for r in sorted(ok, key=lambda r: (r.runtime, candidate_family(r))):
        groups.setdefault((r.runtime, candidate_family(r)), []).append(r)
    data = []
    for (runtime, family), group in groups.items():
        name = f"{family} on {runtime}"
        trace = {
            "type": "scatter", "mode": "markers", "name": esc(name),
            "x": [_round(r.metric(x), fx) for r in group],
            "y": [_round(r.metric(y), fy) for r in group],
            "customdata": [r.id for r in group],
            "hovertemplate": ("%{text}" if named else "candidate %{customdata}") + hover,
            "marker": {"color": runtime_color(runtime), "symbol": family_symbol(family),
                       "size": 9, "opacity": 0.85, "line": {"color": "#ffffff", "width": 1}},
        }  # fmt: skip
        if named:
            trace["text"] = [esc(f"{r.model} · {r.policy} · {r.compression}") for r in group]
        data.append(trace)
    return data


def _front_line(front: list[CandidateRecord], x: str, y: str, fx: float, fy: float) -> Figure:
    return {
        "type": "scatter", "mode": "lines", "name": "Pareto front",
        "x": [_round(r.metric(x), fx) for r in front],
        "y": [_round(r.metric(y), fy) for r in front],
        "line": {"color": "#111827", "width": 1.5, "dash": "dot", "shape": "hv"},
        "hoverinfo": "skip",
    }  # fmt: skip


def error_scatter(records: Sequence[CandidateRecord], metric: str) -> Figure:
    """MAE (linear, lower is better) against `metric` (log x), with the Pareto front."""
    ok = [
        r for r in records if r.status == "ok" and r.metric("mae") is not None and r.metric(metric)
    ]
    factor, title, unit_format = _scale(metric, ok)
    hover = f"<br>%{{fullData.name}}<br>MAE %{{y:.4g}}<br>{unit_format}<extra></extra>"
    front = sorted(pareto_front(ok, ("mae", metric)), key=lambda r: r.metric(metric) or 0)
    data = _points(ok, metric, "mae", factor, 1.0, hover)
    if front:
        data.append(_front_line(front, metric, "mae", factor, 1.0))
    xs = [(r.metric(metric) or 0.0) * factor for r in ok]
    layout = _layout(
        440,
        xaxis=_log_axis(title, xs),
        yaxis=_axis(scores.SCORES.get("regress").axis, rangemode="tozero"),
        legend={"orientation": "h", "y": -0.25, "font": {"size": 11}},
        margin={"l": 64, "r": 24, "t": 16, "b": 110},
    )
    return {"data": data, "layout": layout}


def cost_scatter(records: Sequence[CandidateRecord]) -> Figure:
    """p50 latency against file size, both log and both lower-is-better, with the front."""
    ok = [
        r for r in records
        if r.status == "ok" and r.metric("file_bytes") and r.metric("latency_p50_ms")
    ]  # fmt: skip
    size_factor, size_title, size_format = _scale("file_bytes", ok)
    time_factor, time_title, time_format = _scale("latency_p50_ms", ok)
    time_format = time_format.replace("%{x", "%{y")
    hover = f"<br>%{{fullData.name}}<br>{size_format}<br>{time_format}<extra></extra>"
    front = sorted(
        pareto_front(ok, ("file_bytes", "latency_p50_ms")),
        key=lambda r: r.metric("file_bytes") or 0.0,
    )
    data = _points(ok, "file_bytes", "latency_p50_ms", size_factor, time_factor, hover)
    if front:
        data.append(_front_line(front, "file_bytes", "latency_p50_ms", size_factor, time_factor))
    layout = _layout(
        440,
        xaxis=_log_axis(size_title, [(r.metric("file_bytes") or 0) * size_factor for r in ok]),
        yaxis=_log_axis(time_title, [(r.metric("latency_p50_ms") or 0) * time_factor for r in ok]),
        legend={"orientation": "h", "y": -0.25, "font": {"size": 11}},
        margin={"l": 64, "r": 24, "t": 16, "b": 110},
    )
    return {"data": data, "layout": layout}

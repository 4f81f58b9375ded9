"""Plotly figures of the site, as plain dicts ({"data": [...], "layout": {...}}).

Plain dicts keep rendering fast and need no plotly import; the pages pass them to the
local plotly.js. Plotly draws a subset of HTML in labels, so every name from the store is
entity-escaped before it goes into a figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.report.axes import (
    bulk_range,
    family_symbol,
    log_ticks,
    runtime_color,
    time_unit,
)
from harness.report.data import pareto_front
from harness.report.families import candidate_family
from harness.store.results import CandidateRecord

Figure = dict[str, Any]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
GRID = "#e5e7eb"
REGRESSION = "#dc2626"
FACETS = 4  # up to this many policies get a panel each; more share one panel
BOX_MIN_POINTS = 8  # fewer candidates per box are shown as points: a box of 3 says nothing
BOX_POINTS_LIMIT = 500  # above this many candidates, boxes show only their outliers
HEATMAP_LABELS_LIMIT = 300  # cells; a larger heatmap is read by colour and hover
# Above this many points a scatter's hover names the candidate by number (a click opens it)
# instead of carrying every name: 10,000 names twice would be a megabyte of page.
HOVER_NAMES_LIMIT = 1000


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 64, "r": 24, "t": 32, "b": 56},
        "font": {"family": FONT, "size": 12, "color": "#1f2937"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "y": -0.22},
        **extra,
    }


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": "#9ca3af",
        "automargin": True,
        **extra,
    }


def _round(value: float | None, factor: float) -> float | None:
    """A stored value in its drawn unit, to 5 significant digits (short pages)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value * factor:.5g}")


def _scale(metric: str, records: Sequence[CandidateRecord]) -> tuple[float, str, str]:
    """(factor from stored value, axis title, hover format) for an x metric."""
    if metric == "file_bytes":
        return 1 / 1024, "file size (KB, log)", "%{x:.1f} KB"
    unit = time_unit([r.metric(metric) or 0.0 for r in records])
    return unit.per_ms, f"p50 latency ({unit.name}, log)", f"p50 %{{x:.3g}} {unit.name}"


def _log_axis(title: str, values: Sequence[float], **extra: Any) -> dict[str, Any]:
    """A log axis labelled 1-2-5 in plain numbers of its unit."""
    positive = [v for v in values if v and v > 0]
    axis = _axis(title, type="log", **extra)
    if positive:
        lo, hi = min(positive), max(positive)
        vals, text = log_ticks(lo / 1.25, hi * 1.25)
        axis.update(
            tickvals=vals, ticktext=text, range=[math.log10(lo / 1.25), math.log10(hi * 1.25)]
        )
    return axis


def accuracy_scatter(records: Sequence[CandidateRecord], metric: str) -> Figure:
    """Accuracy against `metric` (log x), one panel per policy (up to FACETS), colour by
    runtime, symbol by compression family, the Pareto front of all panels as a dotted line.

    The y range follows the bulk of the candidates; an outlier is drawn at the bottom edge
    as an open triangle labelled with its value. Points carry candidate ids."""
    ok = [
        r
        for r in records
        if r.status == "ok" and r.metric("accuracy") is not None and r.metric(metric)
    ]
    factor, title, unit_format = _scale(metric, ok)
    policies = sorted({r.policy for r in ok})
    panels = policies if 1 < len(policies) <= FACETS else [None]
    y_range = bulk_range([100 * (r.metric("accuracy") or 0.0) for r in ok], min_span=2.0)
    named = len(ok) <= HOVER_NAMES_LIMIT
    who = "%{text}" if named else "candidate %{customdata}"
    hover = f"{who}<br>%{{fullData.name}}<br>accuracy %{{y:.2f}}%<br>{unit_format}<extra></extra>"
    front = sorted(pareto_front(ok, ("accuracy", metric)), key=lambda r: r.metric(metric) or 0)
    data: list[dict[str, Any]] = []
    shown: set[str] = set()
    clipped: list[tuple[int, CandidateRecord]] = []
    for n, panel in enumerate(panels, start=1):
        axes = {"xaxis": "x" if n == 1 else f"x{n}", "yaxis": "y"}
        mine = [r for r in ok if panel is None or r.policy == panel]
        groups: dict[tuple[str, str], list[CandidateRecord]] = {}
        families = {r.id: candidate_family(r) for r in mine}  # distill/qat by their chain
        for r in sorted(mine, key=lambda r: (r.runtime, families[r.id])):
            groups.setdefault((r.runtime, families[r.id]), []).append(r)
        for (runtime, family), group in groups.items():
            inside = []
            for r in group:
                if y_range.clip(100 * (r.metric("accuracy") or 0.0))[1]:
                    clipped.append((n, r))
                else:
                    inside.append(r)
            name = f"{family} on {runtime}"
            trace = {
                "type": "scatter", "mode": "markers", "name": esc(name), **axes,
                "legendgroup": esc(name), "showlegend": name not in shown,
                "x": [_round(r.metric(metric), factor) for r in inside],
                "y": [_round(r.metric("accuracy"), 100.0) for r in inside],
                "customdata": [r.id for r in inside],
                "hovertemplate": hover,
                "marker": {
                    "color": runtime_color(runtime), "symbol": family_symbol(family),
                    "size": 9, "opacity": 0.85, "line": {"color": "#ffffff", "width": 1},
                },
            }  # fmt: skip
            if named:
                trace["text"] = [esc(f"{r.model} · {r.policy} · {r.compression}") for r in inside]
            shown.add(name)
            data.append(trace)
        if front:
            data.append(
                {
                    "type": "scatter", "mode": "lines", **axes, "name": "Pareto front (all policies)",
                    "legendgroup": "front", "showlegend": n == 1,
                    "x": [_round(r.metric(metric), factor) for r in front],
                    "y": [y_range.clip(100 * (r.metric("accuracy") or 0.0))[0] for r in front],
                    "line": {"color": "#111827", "width": 1.5, "dash": "dot", "shape": "hv"},
                    "hoverinfo": "skip",
                }
            )  # fmt: skip
    for n in sorted({n for n, _ in clipped}):
        outside = [r for m, r in clipped if m == n]
        data.append(
            {
                "type": "scatter", "mode": "markers+text", "name": "outside the axis (value shown)",
                "xaxis": "x" if n == 1 else f"x{n}", "yaxis": "y", "legendgroup": "outside",
                "showlegend": n == min(m for m, _ in clipped),
                "x": [_round(r.metric(metric), factor) for r in outside],
                "y": [y_range.clip(100 * (r.metric("accuracy") or 0.0))[0] for r in outside],
                "text": [f"{100 * (r.metric('accuracy') or 0.0):.1f}%" for r in outside],
                "textposition": "top center", "textfont": {"size": 10, "color": "#6b7280"},
                "customdata": [r.id for r in outside],
                "hovertemplate": "%{text} accuracy (below the axis)<extra></extra>",
                "marker": {"color": "#6b7280", "symbol": "triangle-down-open", "size": 10},
            }
        )  # fmt: skip
    xs = [(r.metric(metric) or 0.0) * factor for r in ok]
    layout = _layout(
        440,
        yaxis=_axis("accuracy (%)", ticksuffix="%", range=y_range.axis()),
        legend={"orientation": "h", "y": -0.25, "font": {"size": 11}},
        margin={"l": 64, "r": 24, "t": 28 if panels[0] else 16, "b": 110},
    )
    gap = 0.03
    for n in range(1, len(panels) + 1):
        key = "xaxis" if n == 1 else f"xaxis{n}"
        width = 1 / len(panels)
        domain = [
            (n - 1) * width + (gap if n > 1 else 0),
            n * width - (gap if n < len(panels) else 0),
        ]
        layout[key] = _log_axis(title if n == 1 else "", xs, domain=domain)
        if n > 1:
            layout[key]["matches"] = "x"
    if panels[0] is not None:
        layout["annotations"] = [
            {
                "text": esc(f"policy: {panel}"), "showarrow": False, "xref": "paper",
                "yref": "paper", "x": (n - 1) / len(panels) + (0.03 if n > 1 else 0),
                "xanchor": "left", "y": 1.0, "yanchor": "bottom",
                "font": {"size": 12},
            }
            for n, panel in enumerate(panels, start=1)
        ]  # fmt: skip
    return {"data": data, "layout": layout}


def accuracy_heatmap(records: Sequence[CandidateRecord]) -> Figure:
    """Mean accuracy over runtimes per (model, policy) row and compression column; the colour
    scale follows the bulk, so an outlier cell saturates instead of flattening the rest."""
    ok = [r for r in records if r.status == "ok" and r.metric("accuracy") is not None]
    many_models = len({r.model for r in ok}) > 1

    def row_label(r: CandidateRecord) -> str:
        return f"{r.model} · {r.policy}" if many_models else r.policy

    rows = list(dict.fromkeys(row_label(r) for r in ok))
    cols = list(dict.fromkeys(r.compression for r in ok))
    sums = np.zeros((len(rows), len(cols)))
    counts = np.zeros((len(rows), len(cols)))
    row_index = {name: i for i, name in enumerate(rows)}
    col_index = {name: j for j, name in enumerate(cols)}
    for r in ok:
        i, j = row_index[row_label(r)], col_index[r.compression]
        sums[i, j] += r.metric("accuracy") or 0.0
        counts[i, j] += 1
    z = [
        [round(float(s / c) * 100, 3) if c else None for s, c in zip(srow, crow, strict=True)]
        for srow, crow in zip(sums, counts, strict=True)
    ]
    scale = bulk_range([v for row in z for v in row if v is not None], min_span=2.0)
    trace = {
        "type": "heatmap",
        "x": [esc(c) for c in cols],
        "y": [esc(r) for r in rows],
        "z": z,
        "zmin": scale.low,
        "zmax": scale.high,
        "colorscale": "YlGnBu",
        "reversescale": True,
        "hovertemplate": "%{y}<br>%{x}<br>mean accuracy %{z:.2f}%<extra></extra>",
        "colorbar": {"title": {"text": "%"}, "thickness": 12},
    }
    if len(rows) * len(cols) <= HEATMAP_LABELS_LIMIT:
        trace["texttemplate"] = "%{z:.1f}"
    layout = _layout(
        max(220, 90 + (34 if len(rows) <= 20 else 16) * len(rows)),
        xaxis=_axis("compression", type="category", gridcolor="rgba(0,0,0,0)"),
        yaxis=_axis(
            "model · policy" if many_models else "policy",
            type="category",
            autorange="reversed",
            gridcolor="rgba(0,0,0,0)",
        ),
    )
    return {"data": [trace], "layout": layout}


def latency_box(records: Sequence[CandidateRecord]) -> Figure:
    """p50 latency per compression and runtime: boxes where each holds enough candidates to
    summarise (BOX_MIN_POINTS), otherwise the points alone, grouped the same way."""
    ok = [r for r in records if r.status == "ok" and r.metric("latency_p50_ms")]
    unit = time_unit([r.metric("latency_p50_ms") or 0.0 for r in ok])
    points = "all" if len(ok) <= BOX_POINTS_LIMIT else "outliers"
    counts: dict[tuple[str, str], int] = {}
    for r in ok:
        counts[(r.runtime, r.compression)] = counts.get((r.runtime, r.compression), 0) + 1
    boxes = bool(counts) and min(counts.values()) >= BOX_MIN_POINTS
    data = []
    for runtime in sorted({r.runtime for r in ok}):
        mine = [r for r in ok if r.runtime == runtime]
        trace = {
            "type": "box",
            "name": esc(runtime),
            "x": [esc(r.compression) for r in mine],
            "y": [_round(r.metric("latency_p50_ms"), unit.per_ms) for r in mine],
            "boxpoints": points,
            "jitter": 0.3,
            "pointpos": 0,
            "marker": {"color": runtime_color(runtime), "size": 6},
            "line": {"width": 1.5},
        }
        if not boxes:  # the points alone, side by side per runtime (layout.scattermode)
            trace = {
                "type": "scatter", "mode": "markers", "name": trace["name"], "x": trace["x"],
                "y": trace["y"], "marker": {"color": runtime_color(runtime), "size": 7},
                "hovertemplate": f"%{{x}}<br>p50 %{{y:.3g}} {unit.name}<extra>%{{fullData.name}}</extra>",
            }  # fmt: skip
        data.append(trace)
    layout = _layout(
        380,
        boxmode="group",
        scattermode="group",
        xaxis=_axis("compression", type="category"),
        yaxis=_log_axis(
            f"p50 latency ({unit.name}, log)",
            [(r.metric("latency_p50_ms") or 0.0) * unit.per_ms for r in ok],
        ),
    )
    return {"data": data, "layout": layout}

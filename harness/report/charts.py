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

from harness.report.data import (
    TRAINING_FAMILIES,
    candidate_family,
    pareto_front,
)
from harness.report.history import (
    Series,
)
from harness.store.results import CandidateRecord

Figure = dict[str, Any]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
RUNTIME_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")
SYMBOLS = (
    "circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon",
    "pentagon", "triangle-down", "star-square", "hourglass",
)  # fmt: skip
GRID = "#e5e7eb"
REGRESSION = "#dc2626"
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


def _palette(names: Sequence[str], colors: Sequence[str]) -> dict[str, str]:
    return {name: colors[i % len(colors)] for i, name in enumerate(sorted(set(names)))}


# How a metric is drawn: the factor to its axis unit (%, KB, ms) and the decimals kept,
# enough for any chart and short in the page.
UNITS = {"accuracy": (100.0, 2), "file_bytes": (1 / 1024, 2), "latency_p50_ms": (1.0, 5)}


def _drawn(metric: str, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    scale, decimals = UNITS[metric]
    return round(value * scale, decimals)


def accuracy_scatter(
    records: Sequence[CandidateRecord], metric: str, title: str, unit_format: str
) -> Figure:
    """Accuracy against `metric` (log x), colour by runtime, symbol by compression family,
    with the two-objective Pareto front as a step line. Points carry candidate ids."""
    ok = [
        r
        for r in records
        if r.status == "ok" and r.metric("accuracy") is not None and r.metric(metric)
    ]
    colors = _palette([r.runtime for r in ok], RUNTIME_COLORS)
    families = {r.id: candidate_family(r) for r in ok}
    free = [s for s in SYMBOLS if s not in TRAINING_FAMILIES.values()]
    symbols = _palette([f for f in families.values() if f not in TRAINING_FAMILIES], free)
    symbols.update(TRAINING_FAMILIES)
    groups: dict[tuple[str, str], list[CandidateRecord]] = {}
    for r in sorted(ok, key=lambda r: (r.runtime, families[r.id])):
        groups.setdefault((r.runtime, families[r.id]), []).append(r)
    named = len(ok) <= HOVER_NAMES_LIMIT
    who = "%{text}" if named else "candidate %{customdata}"
    hover = f"{who}<br>%{{fullData.name}}<br>accuracy %{{y:.1f}}%<br>{unit_format}<extra></extra>"
    data: list[dict[str, Any]] = []
    for (runtime, family), group in groups.items():
        trace = {
            "type": "scatter",
            "mode": "markers",
            "name": esc(f"{runtime} · {family}"),
            "legendgroup": esc(runtime),
            "x": [_drawn(metric, r.metric(metric)) for r in group],
            "y": [_drawn("accuracy", r.metric("accuracy")) for r in group],
            "customdata": [r.id for r in group],
            "hovertemplate": hover,
            "marker": {
                "color": colors[runtime],
                "symbol": symbols[family],
                "size": 9,
                "opacity": 0.85,
                "line": {"color": "#ffffff", "width": 1},
            },
        }
        if named:
            trace["text"] = [esc(f"{r.model} · {r.policy} · {r.compression}") for r in group]
        data.append(trace)
    front = sorted(pareto_front(ok, ("accuracy", metric)), key=lambda r: r.metric(metric) or 0)
    if front:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Pareto front",
                "x": [_drawn(metric, r.metric(metric)) for r in front],
                "y": [_drawn("accuracy", r.metric("accuracy")) for r in front],
                "line": {"color": "#111827", "width": 1.5, "dash": "dot", "shape": "hv"},
                "hoverinfo": "skip",
            }
        )
    layout = _layout(
        420,
        xaxis=_axis(title, type="log"),
        yaxis=_axis("accuracy (%)", ticksuffix="%"),
        legend={"orientation": "h", "y": -0.25, "font": {"size": 11}},
        margin={"l": 64, "r": 24, "t": 16, "b": 110},
    )
    return {"data": data, "layout": layout}


def accuracy_heatmap(records: Sequence[CandidateRecord]) -> Figure:
    """Mean accuracy over runtimes per (model, policy) row and compression column."""
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
    trace = {
        "type": "heatmap",
        "x": [esc(c) for c in cols],
        "y": [esc(r) for r in rows],
        "z": z,
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
    """p50 latency per compression, one box per runtime (one point per candidate)."""
    ok = [r for r in records if r.status == "ok" and r.metric("latency_p50_ms")]
    colors = _palette([r.runtime for r in ok], RUNTIME_COLORS)
    points = "all" if len(ok) <= BOX_POINTS_LIMIT else "outliers"
    data = []
    for runtime, color in colors.items():
        mine = [r for r in ok if r.runtime == runtime]
        data.append(
            {
                "type": "box",
                "name": esc(runtime),
                "x": [esc(r.compression) for r in mine],
                "y": [_drawn("latency_p50_ms", r.metric("latency_p50_ms")) for r in mine],
                "boxpoints": points,
                "jitter": 0.3,
                "pointpos": 0,
                "marker": {"color": color, "size": 5},
                "line": {"width": 1.5},
            }
        )
    layout = _layout(
        380,
        boxmode="group",
        xaxis=_axis("compression", type="category"),
        yaxis=_axis("p50 latency (ms)", type="log"),
    )
    return {"data": data, "layout": layout}


def confusion_heatmap(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> Figure:
    labels = [esc(c) for c in classes] or [str(i) for i in range(len(confusion))]
    trace = {
        "type": "heatmap",
        "x": labels,
        "y": labels,
        "z": [list(map(int, row)) for row in confusion],
        "colorscale": "Blues",
        "reversescale": True,
        "texttemplate": "%{z}",
        "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
        "showscale": False,
    }
    size = min(640, 160 + 36 * len(labels))
    layout = _layout(
        size,
        width=size + 40,
        xaxis=_axis("predicted", type="category", side="top", gridcolor="rgba(0,0,0,0)"),
        yaxis=_axis("true", type="category", autorange="reversed", gridcolor="rgba(0,0,0,0)"),
        margin={"l": 72, "r": 16, "t": 64, "b": 16},
    )
    return {"data": [trace], "layout": layout}


def latency_histogram(samples_ms: Sequence[float], marks: dict[str, float | None]) -> Figure:
    """Samples binned in Python (small pages), with vertical lines at the named percentiles."""
    values = np.asarray(samples_ms, dtype=float)
    bins = max(5, min(40, len(values) // 5))
    low, high = float(values.min()), float(values.max())
    width = (high - low) / bins or 1e-6
    # Equal-width bins as np.histogram makes them, at a tenth of its cost (10,000 pages).
    counts = np.bincount(np.minimum(((values - low) / width).astype(int), bins - 1), minlength=bins)
    trace = {
        "type": "bar",
        "x": [_drawn("latency_p50_ms", low + (i + 0.5) * width) for i in range(bins)],
        "y": counts.tolist(),
        "width": width,
        "marker": {"color": "#93c5fd", "line": {"color": "#2563eb", "width": 0.5}},
        "hovertemplate": "%{x:.4g} ms<br>%{y} runs<extra></extra>",
    }
    shapes, notes = [], []
    for name, value in marks.items():
        if value is None:
            continue
        shapes.append(
            {
                "type": "line", "xref": "x", "yref": "paper", "x0": value, "x1": value,
                "y0": 0, "y1": 1, "line": {"color": "#111827", "width": 1, "dash": "dot"},
            }
        )  # fmt: skip
        notes.append(
            {"x": value, "y": 1, "xref": "x", "yref": "paper", "text": name, "showarrow": False,
             "yanchor": "bottom", "font": {"size": 11}}
        )  # fmt: skip
    layout = _layout(
        300,
        bargap=0.02,
        xaxis=_axis("latency per run (ms)"),
        yaxis=_axis("runs"),
        shapes=shapes,
        annotations=notes,
        showlegend=False,
    )
    return {"data": [trace], "layout": layout}


TREND_PANELS = (
    ("accuracy", "accuracy (%)"),
    ("file_bytes", "file size (KB)"),
    ("latency_p50_ms", "p50 (ms)"),
)


def trend(series: Series, machine_hash: str) -> Figure:
    """Accuracy, file size and p50 across runs, side by side; regressions as red crosses.

    p50 from runs on another machine than `machine_hash` is left out: not comparable."""
    data: list[dict[str, Any]] = []
    layout = _layout(
        260, showlegend=False, grid={"rows": 1, "columns": 3, "pattern": "independent"}
    )
    layout["margin"] = {"l": 56, "r": 16, "t": 16, "b": 48}
    for n, (metric, title) in enumerate(TREND_PANELS, start=1):
        suffix = "" if n == 1 else str(n)
        points = [
            p
            for p in series.points
            if p.status == "ok" and (metric != "latency_p50_ms" or p.machine_hash == machine_hash)
        ]
        xs = [p.run_id for p in points]
        ys = [_drawn(metric, getattr(p, metric)) for p in points]
        data.append(
            {
                "type": "scatter", "mode": "lines+markers", "x": xs, "y": ys,
                "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "name": title,
                "line": {"color": "#2563eb", "width": 2}, "marker": {"size": 6},
                "hovertemplate": f"run %{{x}}<br>{title}: %{{y:.4g}}<extra></extra>",
            }
        )  # fmt: skip
        marked = {r.run_id: r.text for r in series.regressions if r.metric == metric}
        bad = [
            (x, y, marked[p.run_id])
            for p, x, y in zip(points, xs, ys, strict=True)
            if p.run_id in marked
        ]
        if bad:
            data.append(
                {
                    "type": "scatter", "mode": "markers", "name": "regression",
                    "x": [b[0] for b in bad], "y": [b[1] for b in bad],
                    "text": [b[2] for b in bad], "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                    "marker": {"color": REGRESSION, "symbol": "x", "size": 12},
                    "hovertemplate": "run %{x}<br>regression: %{text}<extra></extra>",
                }
            )  # fmt: skip
        layout[f"xaxis{suffix}"] = _axis("run", tickformat="d")
        if len(series.points) <= 12:  # whole run numbers only
            layout[f"xaxis{suffix}"]["dtick"] = 1
        layout[f"yaxis{suffix}"] = _axis(title)
    return {"data": data, "layout": layout}

"""Plotly figures of a candidate's own page and the history page: confusion matrix, latency
histogram, trends across runs. Plain dicts, like harness.report.charts.

The histogram's range follows the bulk of the samples and names the slow tail in a note;
trend axes keep a minimum span, so a change far inside the noise does not look like a cliff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.report.axes import TUKEY_K, quartiles, time_unit, unit_for
from harness.report.charts import REGRESSION, Figure, _axis, _layout, _round, esc
from harness.report.history import Series

# The smallest y span of a trend panel, relative to the series' mean (accuracy: points).
TREND_MIN_SPAN = {"accuracy": 2.0, "file_bytes": 0.05, "latency_p50_ms": 0.5}


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
    """Samples binned in Python (small pages), with dotted lines at the named percentiles.

    Bins cover the samples inside Tukey's far-out fence; slower ones are counted in a note
    ("12 slower runs not drawn, up to 4.1 ms") instead of stretching the axis to one bar."""
    values = np.asarray(samples_ms, dtype=float)
    q1, median, q3 = quartiles(values)
    unit = unit_for(median)
    fence = q3 + TUKEY_K * max(q3 - q1, 1e-9)
    bulk = values[values <= fence]
    tail = values[values > fence]
    bins = max(5, min(40, len(bulk) // 5))
    low, high = float(bulk.min()), float(bulk.max())
    width = (high - low) / bins or 1e-6
    # Equal-width bins as np.histogram makes them, at a tenth of its cost (10,000 pages).
    counts = np.bincount(np.minimum(((bulk - low) / width).astype(int), bins - 1), minlength=bins)
    trace = {
        "type": "bar",
        "x": [_round(low + (i + 0.5) * width, unit.per_ms) for i in range(bins)],
        "y": counts.tolist(),
        "width": width * unit.per_ms,
        "marker": {"color": "#93c5fd", "line": {"color": "#2563eb", "width": 0.5}},
        "hovertemplate": f"%{{x:.4g}} {unit.name}<br>%{{y}} runs<extra></extra>",
    }
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    edge = high + width
    placed = sorted((v, name) for name, v in marks.items() if v is not None)
    for row, (value, name) in enumerate(placed):
        x = _round(min(value, edge), unit.per_ms)
        label = name if value <= edge else f"{name} {value * unit.per_ms:.4g} →"
        shapes.append(
            {
                "type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x,
                "y0": 0, "y1": 1, "line": {"color": "#111827", "width": 1, "dash": "dot"},
            }
        )  # fmt: skip
        notes.append(  # staggered, so close percentiles do not print over each other
            {"x": x, "y": 1 - 0.09 * row, "xref": "x", "yref": "paper", "text": label,
             "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"size": 11},
             "bgcolor": "rgba(255,255,255,0.8)"}
        )  # fmt: skip
    if tail.size:
        notes.append(
            {"x": 1, "y": 1.08, "xref": "paper", "yref": "paper", "xanchor": "right",
             "showarrow": False, "font": {"size": 11, "color": "#6b7280"},
             "text": f"{tail.size} slower run{'s' if tail.size > 1 else ''} not drawn, "
                     f"up to {tail.max() * unit.per_ms:.4g} {unit.name}"}
        )  # fmt: skip
    layout = _layout(
        300,
        bargap=0.02,
        xaxis=_axis(f"latency per run ({unit.name})"),
        yaxis=_axis("runs"),
        shapes=shapes,
        annotations=notes,
        showlegend=False,
    )
    return {"data": [trace], "layout": layout}


def _trend_range(metric: str, ys: Sequence[float | None]) -> list[float] | None:
    """The values' range, widened to TREND_MIN_SPAN around their middle."""
    v = [y for y in ys if y is not None]
    if not v:
        return None
    low, high = min(v), max(v)
    rel = TREND_MIN_SPAN[metric]
    span = rel if metric == "accuracy" else rel * abs(sum(v) / len(v))
    if high - low < span:
        middle = (low + high) / 2
        low, high = middle - span / 2, middle + span / 2
    pad = 0.08 * (high - low)
    return [low - pad, high + pad]


TREND_PANELS = (
    ("accuracy", "accuracy (%)"),
    ("file_bytes", "file size (KB)"),
    ("latency_p50_ms", "p50"),
)


def trend(series: Series, machine_hash: str) -> Figure:
    """Accuracy, file size and p50 across runs, side by side; regressions as red crosses.

    p50 from runs on another machine than `machine_hash` is left out: not comparable."""
    data: list[dict[str, Any]] = []
    unit = time_unit([p.latency_p50_ms or 0.0 for p in series.points])
    factors = {"accuracy": 100.0, "file_bytes": 1 / 1024, "latency_p50_ms": unit.per_ms}
    layout = _layout(
        260, showlegend=False, grid={"rows": 1, "columns": 3, "pattern": "independent"}
    )
    layout["margin"] = {"l": 56, "r": 16, "t": 16, "b": 48}
    for n, (metric, title) in enumerate(TREND_PANELS, start=1):
        suffix = "" if n == 1 else str(n)
        points = [
            p
            for p in series.points
            if p.status == "ok"
            and (
                metric != "latency_p50_ms"
                or p.machine_hash == (series.machine_hash or machine_hash)
            )
        ]
        xs = [p.run_id for p in points]
        ys = [_round(getattr(p, metric), factors[metric]) for p in points]
        if metric == "latency_p50_ms":
            title = f"p50 ({unit.name})"
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
        layout[f"yaxis{suffix}"] = _axis(title, range=_trend_range(metric, ys))
    return {"data": data, "layout": layout}

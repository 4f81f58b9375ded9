"""How the charts scale, label and colour what they draw: pure functions over numbers and names.

Axis ranges follow the bulk of the candidates a reader compares (Tukey fences), so one
broken setting does not squash every real choice into a line; what falls outside is drawn
at the edge with its value. Colours and symbols are keyed by name, never by position, so a
runtime keeps its colour whatever other runtimes a run has.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The runtimes and compression words the project ships get fixed, distinct looks; any other
# name gets one picked by its hash from the spare set (stable across runs and machines).
RUNTIME_COLORS = {"onnxruntime": "#2563eb", "litert": "#ea580c", "executorch": "#16a34a"}
SPARE_COLORS = ("#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d")
FAMILY_SYMBOLS = {
    "fp32": "circle", "float16": "diamond", "fp16": "diamond", "int8": "square",
    "int4": "triangle-up", "int2": "triangle-down", "ort": "star", "prune": "cross",
    "svd": "x", "distill": "hexagon", "qat": "pentagon",
}  # fmt: skip
SPARE_SYMBOLS = ("star-square", "hourglass", "bowtie", "star-diamond", "hexagram", "asterisk")
TUKEY_K = 3.0  # fences at 3 IQR: "far out" in Tukey's terms, so only clear outliers leave
PAD = 0.08  # of the span, each side


def _pick(name: str, choices: Sequence[str]) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return choices[int.from_bytes(digest[:4], "big") % len(choices)]


def runtime_color(target: str) -> str:
    """A runtime's (or target's) colour; a target such as 'litert int8' gets its own."""
    return RUNTIME_COLORS.get(target) or _pick(target, SPARE_COLORS)


def family_symbol(family: str) -> str:
    return FAMILY_SYMBOLS.get(family.lower()) or _pick(family, SPARE_SYMBOLS)


@dataclass(frozen=True)
class Range:
    """An axis range (in drawn units; log10 of them on a log axis) and where it clips."""

    low: float
    high: float
    log: bool = False

    def axis(self) -> list[float]:
        """Plotly's `range`: log axes take log10 of the bounds."""
        return [self.low, self.high]

    def clip(self, value: float) -> tuple[float, bool]:
        """The value drawn inside the range, and whether it had to be moved to the edge."""
        v = math.log10(value) if self.log else value
        if v < self.low:
            return (10**self.low if self.log else self.low), True
        if v > self.high:
            return (10**self.high if self.log else self.high), True
        return value, False


def bulk_range(values: Sequence[float], *, log: bool = False, min_span: float = 0.0) -> Range:
    """The range of the values inside Tukey's far-out fences, padded.

    `min_span` (in axis units; decades on a log axis) keeps near-equal values from being
    stretched into a cliff and keeps a zero IQR from calling every other value an outlier.
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if log:
        v = np.log10(v[v > 0])
    if v.size == 0:
        return Range(0.0, 1.0, log)
    q1, q3 = np.percentile(v, [25, 75])
    spread = max(float(q3 - q1), min_span / (2 * TUKEY_K))
    inside = v[(v >= q1 - TUKEY_K * spread) & (v <= q3 + TUKEY_K * spread)]
    low, high = float(inside.min()), float(inside.max())
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    pad = PAD * (high - low) or 0.5
    return Range(low - pad, high + pad, log)


def quartiles(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """np.percentile(values, [25, 50, 75]) to the bit (its default, linear interpolation) in
    a tenth of the time: for 500 latency samples numpy's general machinery costs far more
    than the sort, and a large site draws ten thousand histograms."""
    ordered = np.sort(np.asarray(values, dtype=float))  # NaN sorts last
    if ordered.size == 0:
        raise ValueError("quartiles of no values")
    if math.isnan(ordered[-1]):
        return math.nan, math.nan, math.nan
    top = ordered.size - 1
    found = []
    for q in (0.25, 0.5, 0.75):
        virtual = top * q
        # numpy's neighbours: the last value (index -1) from the top index on
        below = math.floor(virtual) if virtual < top else -1
        above = below + 1 if virtual < top else -1
        weight = virtual - below
        a, b = float(ordered[below]), float(ordered[above])
        diff = b - a
        # numpy's _lerp: from the nearer end, so a weight of 1 gives b exactly
        found.append(b - diff * (1 - weight) if weight >= 0.5 else a + diff * weight)
    return found[0], found[1], found[2]


@dataclass(frozen=True)
class TimeUnit:
    name: str  # "µs", "ms" or "s"
    per_ms: float  # drawn value = milliseconds x per_ms


def time_unit(values_ms: Sequence[float]) -> TimeUnit:
    """The unit that keeps the bulk of the values between 1 and 1000."""
    finite = sorted(v for v in values_ms if v is not None and math.isfinite(v) and v > 0)
    # The upper median: plain Python, as thousands of pages each ask for it.
    return unit_for(finite[len(finite) // 2] if finite else 1.0)


def unit_for(typical_ms: float) -> TimeUnit:
    """The unit of a typical value in milliseconds: µs below 1 ms, s from 1000 ms."""
    typical = typical_ms
    if typical < 1.0:
        return TimeUnit("µs", 1000.0)
    if typical >= 1000.0:
        return TimeUnit("s", 0.001)
    return TimeUnit("ms", 1.0)


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis spanning [low, high] (drawn units, not log10):
    1-2-5 steps, plain numbers, never Plotly's abbreviated minor labels."""
    if not (low > 0 and high > low):
        return [], []
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)

    def within(steps: tuple[float, ...]) -> list[float]:
        return [m * 10.0**e for e in decades for m in steps if low <= m * 10.0**e <= high]

    ticks = within((1.0, 2.0, 5.0))
    if len(ticks) > 10:  # many decades: the decades alone read best
        ticks = within((1.0,))
    elif len(ticks) < 3:  # less than a decade: finer steps
        ticks = within((1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0))
    return ticks, [f"{t:.6g}" for t in ticks]

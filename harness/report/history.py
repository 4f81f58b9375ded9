"""History series: one candidate key across runs, with regressions marked (pure).

Latency is compared only between runs on the same machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from harness.report.formats import fmt_change, fmt_delta_pt

# Regression thresholds, between consecutive runs of one series.
ACCURACY_DROP = 0.005  # half a percentage point
LATENCY_RISE = 0.10  # p50 up by more than 10%, same machine only


class HistoryPoint(NamedTuple):
    """One candidate of one run, as the history needs it (a tuple: there are many)."""

    run_id: int
    machine_hash: str
    status: str
    accuracy: float | None
    file_bytes: float | None
    latency_p50_ms: float | None


@dataclass(frozen=True)
class SeriesLabel:
    key: str
    model: str
    policy: str
    compression: str
    runtime: str


class Regression(NamedTuple):
    run_id: int
    metric: str  # accuracy | file_bytes | latency_p50_ms | status
    before: float | None
    after: float | None

    @property
    def text(self) -> str:
        """'accuracy −1.2 pt', 'file size +3.0%', 'p50 +12.5%' or 'failed (was ok)'."""
        if self.metric == "accuracy":
            return f"accuracy {fmt_delta_pt((self.after or 0) - (self.before or 0))}"
        if self.metric == "file_bytes":
            return f"file size {fmt_change(self.before, self.after)}"
        if self.metric == "latency_p50_ms":
            return f"p50 {fmt_change(self.before, self.after)}"
        return "failed (was ok)"


@dataclass(frozen=True)
class Series:
    label: SeriesLabel
    points: tuple[HistoryPoint, ...]  # oldest first
    regressions: tuple[Regression, ...]

    def latest_regressions(self) -> tuple[Regression, ...]:
        last = self.points[-1].run_id
        return tuple(r for r in self.regressions if r.run_id == last)


def find_regressions(points: Sequence[HistoryPoint], machine_hash: str) -> list[Regression]:
    """Each point against the previous measured one: accuracy drop > 0.5 pt, any size growth,
    and p50 up > 10% (latency compared only between runs on `machine_hash`)."""
    found: list[Regression] = []
    prev: HistoryPoint | None = None  # the latest measured point
    prev_timed: HistoryPoint | None = None  # the latest measured point on machine_hash
    was_ok = False
    for point in points:
        if point.status != "ok":
            if was_ok:
                found.append(Regression(point.run_id, "status", None, None))
            was_ok = False
            continue
        was_ok = True
        if prev is not None:
            if _drop(prev.accuracy, point.accuracy, ACCURACY_DROP):
                found.append(Regression(point.run_id, "accuracy", prev.accuracy, point.accuracy))
            if _rise(prev.file_bytes, point.file_bytes, 0.0):
                found.append(
                    Regression(point.run_id, "file_bytes", prev.file_bytes, point.file_bytes)
                )
        if point.machine_hash == machine_hash:
            if prev_timed is not None and _rise(
                prev_timed.latency_p50_ms, point.latency_p50_ms, LATENCY_RISE
            ):
                before = prev_timed.latency_p50_ms
                found.append(
                    Regression(point.run_id, "latency_p50_ms", before, point.latency_p50_ms)
                )
            prev_timed = point
        prev = point
    return found


# Float noise must not turn a change of exactly the threshold into a regression.
_EPSILON = 1e-9


def _drop(before: float | None, after: float | None, threshold: float) -> bool:
    return before is not None and after is not None and before - after > threshold + _EPSILON


def _rise(before: float | None, after: float | None, fraction: float) -> bool:
    return before is not None and after is not None and after > before * (1 + fraction) + _EPSILON


def history_series(
    points: Mapping[SeriesLabel, Sequence[HistoryPoint]], machine_hash: str
) -> list[Series]:
    """Series with their regressions; those regressed in their latest run first."""
    series = [
        Series(label, tuple(pts), tuple(find_regressions(pts, machine_hash)))
        for label, pts in points.items()
        if pts
    ]
    return sorted(
        series,
        key=lambda s: (
            not s.latest_regressions(),
            not s.regressions,
            -(s.points[-1].accuracy or 0.0),
            s.label.key,
        ),
    )

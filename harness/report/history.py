"""History series: one candidate key across runs, with regressions marked (pure).

Each run is compared with the previous measured run of the series (not asv-style step
detection: a nightly page must say what the latest run changed, and with latency rounds
and the noise rule one step is judged against measured noise, not a guess). Latency is
compared only between runs on the same machine, and is a regression only when the rise
exceeds both LATENCY_RISE and the noise band (harness.report.noise); the noise of a run
pair comes from the series whose file did not change between those two runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from harness.report import noise as noise_rule
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
    artifact_sha256: str | None = None
    runtime_version: str | None = None


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
    note: str = ""  # for latency: the noise band it was judged against

    @property
    def text(self) -> str:
        """'accuracy −1.2 pt', 'file size +3.0%', 'p50 +12.5%' or 'failed (was ok)'."""
        if self.note:
            return f"p50 {fmt_change(self.before, self.after)} ({self.note})"
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
    inconclusive: tuple[Regression, ...] = ()  # p50 rises beyond 10% but inside the noise
    machine_hash: str = ""  # the machine its latency is compared on (series_machine)

    def latest_regressions(self) -> tuple[Regression, ...]:
        last = self.points[-1].run_id
        return tuple(r for r in self.regressions if r.run_id == last)

    def latest_inconclusive(self) -> tuple[Regression, ...]:
        last = self.points[-1].run_id
        return tuple(r for r in self.inconclusive if r.run_id == last)


# (previous run id, run id) -> the sd of log p50 changes between them, or None if unknown.
NoiseOf = Callable[[int, int], float | None]


def find_regressions(
    points: Sequence[HistoryPoint], machine_hash: str, noise: NoiseOf | None = None
) -> list[Regression]:
    """Each point against the previous measured one: accuracy drop > 0.5 pt, any size growth,
    and p50 up > 10% beyond the noise (latency only between runs on `machine_hash`)."""
    return scan(points, machine_hash, noise)[0]


def _same_file(a: HistoryPoint, b: HistoryPoint) -> bool:
    return bool(a.artifact_sha256) and (a.artifact_sha256, a.runtime_version) == (
        b.artifact_sha256,
        b.runtime_version,
    )


def scan(
    points: Sequence[HistoryPoint], machine_hash: str, noise: NoiseOf | None = None
) -> tuple[list[Regression], list[Regression]]:
    """(regressions, inconclusive latency rises) of a series; see find_regressions."""
    found: list[Regression] = []
    unsure: list[Regression] = []
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
            before, after = (
                (prev_timed.latency_p50_ms if prev_timed else None),
                point.latency_p50_ms,
            )
            if prev_timed and before and after and _rise(before, after, LATENCY_RISE):
                sd = noise(prev_timed.run_id, point.run_id) if noise else None
                verdict = noise_rule.judge(
                    before, after, LATENCY_RISE, sd, _same_file(prev_timed, point)
                )
                if verdict.kind == noise_rule.REGRESSION:
                    found.append(Regression(point.run_id, "latency_p50_ms", before, after))
                elif verdict.kind == noise_rule.INCONCLUSIVE:
                    unsure.append(
                        Regression(point.run_id, "latency_p50_ms", before, after, verdict.text)
                    )
            prev_timed = point
        prev = point
    return found, unsure


# Float noise must not turn a change of exactly the threshold into a regression.
_EPSILON = 1e-9


def _drop(before: float | None, after: float | None, threshold: float) -> bool:
    return before is not None and after is not None and before - after > threshold + _EPSILON


def _rise(before: float | None, after: float | None, fraction: float) -> bool:
    return before is not None and after is not None and after > before * (1 + fraction) + _EPSILON


def series_machine(points: Sequence[HistoryPoint], head: int, machine_hash: str) -> str:
    """The machine a series' latency is compared on: the one that timed its point in run
    `head` (a target's node, for a candidate measured on a device), else `machine_hash`,
    the head run's own machine."""
    return next((p.machine_hash for p in reversed(points) if p.run_id == head), machine_hash)


def run_pair_noise(
    points: Mapping[SeriesLabel, Sequence[HistoryPoint]],
    machine_hash: str,
    machines: Mapping[SeriesLabel, str] | None = None,
) -> Callable[[str], NoiseOf]:
    """runtime -> (run a, run b) -> across-run noise sd: from the same-file changes between
    exactly those runs when there are MIN_PAIRS of them, else from all of the runtime's.
    A series' changes count on its own machine (`machines`, default `machine_hash`)."""
    pairs: dict[tuple[str, int, int], list[float]] = {}
    overall: dict[str, list[float]] = {}
    for label, pts in points.items():
        on = (machines or {}).get(label, machine_hash)
        timed = [p for p in pts if p.status == "ok" and p.machine_hash == on]
        for a, b in zip(timed, timed[1:], strict=False):
            if _same_file(a, b) and a.latency_p50_ms and b.latency_p50_ms:
                change = math.log(b.latency_p50_ms / a.latency_p50_ms)
                pairs.setdefault((label.runtime, a.run_id, b.run_id), []).append(change)
                overall.setdefault(label.runtime, []).append(change)

    def for_runtime(runtime: str) -> NoiseOf:
        def sd(a: int, b: int) -> float | None:
            own = pairs.get((runtime, a, b), [])
            found = noise_rule.same_file_noise(
                own if len(own) >= noise_rule.MIN_PAIRS else overall.get(runtime, [])
            )
            return found.sd if found else None

        return sd

    return for_runtime


def history_series(
    points: Mapping[SeriesLabel, Sequence[HistoryPoint]], machine_hash: str, head: int = 0
) -> list[Series]:
    """Series with their regressions; those regressed in their latest run first.
    `machine_hash` is the reported run's machine and `head` its id: each series' latency
    is compared on the machine that timed it in that run (series_machine; a device's
    node), or on `machine_hash` when the series has no point there or `head` is not given."""
    machines = {label: series_machine(pts, head, machine_hash) for label, pts in points.items()}
    noise_of = run_pair_noise(points, machine_hash, machines)
    series = []
    for label, pts in points.items():
        if pts:
            on = machines[label]
            found, unsure = scan(pts, on, noise_of(label.runtime))
            series.append(Series(label, tuple(pts), tuple(found), tuple(unsure), on))
    return sorted(
        series,
        key=lambda s: (
            not s.latest_regressions(),
            not s.regressions,
            -(s.points[-1].accuracy or 0.0),
            s.label.key,
        ),
    )

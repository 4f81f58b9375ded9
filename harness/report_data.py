"""What the report shows, computed from stored rows (pure functions, no I/O).

Pareto fronts, the best pick under common budgets, history series with regression marks,
the rows of the site's tables, and the number formats every page shares.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from harness.plan import BASELINE
from harness.store import CandidateRecord

# Metrics where more is better; every other metric is a cost.
MAXIMIZE = frozenset(
    {"accuracy", "accuracy_low", "accuracy_high", "robust_accuracy", "throughput_per_s",
     "parity_agreement"}
)  # fmt: skip
FRONT_METRICS = ("accuracy", "file_bytes", "latency_p50_ms")

# Regression thresholds, between consecutive runs of one series.
ACCURACY_DROP = 0.005  # half a percentage point
LATENCY_RISE = 0.10  # p50 up by more than 10%, same machine only
MISSING = "–"
TABLE_PAGE_ROWS = 500


# -- number formats ---------------------------------------------------------------------


def fmt_kb(n_bytes: float | None) -> str:
    return MISSING if n_bytes is None else f"{n_bytes / 1024:,.1f} KB"


def _sig3(value: float) -> str:
    """Three significant digits without exponent notation: 0.0123, 1.23, 123, 1,230."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.3g}")
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def fmt_sci(value: float | None) -> str:
    """Three significant digits, in exponent notation when tiny: 2.38e-06."""
    return MISSING if value is None else f"{value:.3g}"


def fmt_ms(ms: float | None) -> str:
    return MISSING if ms is None else f"{_sig3(ms)} ms"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{_sig3(seconds)} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def fmt_pct(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{fraction * 100:.1f}%"


def fmt_acc_ci(acc: float | None, low: float | None, high: float | None) -> str:
    """97.2% [95.6, 98.3]: the accuracy and its 95% interval."""
    if acc is None:
        return MISSING
    if low is None or high is None:
        return fmt_pct(acc)
    return f"{acc * 100:.1f}% [{low * 100:.1f}, {high * 100:.1f}]"


def fmt_int(n: float | None) -> str:
    return MISSING if n is None else f"{round(n):,}"


def fmt_si(n: float | None) -> str:
    """A count with k/M/G and three significant digits (MACs)."""
    if n is None:
        return MISSING
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= scale:
            return f"{_sig3(n / scale)}{suffix}"
    return fmt_int(n)


def fmt_delta_pt(delta: float | None) -> str:
    """An accuracy difference in percentage points, signed: +0.4 pt, −1.2 pt."""
    return MISSING if delta is None else f"{delta * 100:+.1f} pt".replace("-", "−")


def fmt_change(before: float | None, after: float | None) -> str:
    """A relative change, signed: +12.0%, −3.5%."""
    if before is None or after is None or before == 0:
        return MISSING
    return f"{(after / before - 1) * 100:+.1f}%".replace("-", "−")


def fmt_ratio(base: float | None, value: float | None, smaller: str, larger: str) -> str:
    """How value compares with base as a factor: '4.1× smaller' or '1.3× larger'."""
    if not base or not value:
        return MISSING
    if value <= base:
        return f"{base / value:.1f}× {smaller}"
    return f"{value / base:.1f}× {larger}"


def fmt_spec(spec: object) -> str:
    """A settings dict or list as short text: 'bits=8, pass=quantize'."""
    if isinstance(spec, Mapping):
        return ", ".join(f"{k}={fmt_spec(v)}" for k, v in sorted(spec.items())) or "none"
    if isinstance(spec, list | tuple):
        return "; ".join(fmt_spec(v) for v in spec) or "none"
    return str(spec)


def fmt_time(iso: str | None) -> str:
    """A stored ISO timestamp as '2026-01-01 09:30 UTC' (unchanged when it does not parse)."""
    if not iso:
        return MISSING
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def compression_family(label: str) -> str:
    """The first word of a compression label: 'prune 50% + int8' -> 'prune'."""
    words = label.split()
    return words[0] if words else label


# -- ranking ----------------------------------------------------------------------------


def rank(records: Sequence[CandidateRecord]) -> list[CandidateRecord]:
    """Measured candidates, best accuracy first; ties go to the smaller, then faster model."""
    ok = [r for r in records if r.status == "ok" and r.metric("accuracy") is not None]
    return sorted(
        ok,
        key=lambda r: (
            -(r.metric("accuracy") or 0.0),
            r.metric("file_bytes") or 0.0,
            r.metric("latency_p50_ms") or 0.0,
        ),
    )


# -- Pareto front ---------------------------------------------------------------------


def pareto_mask(costs: np.ndarray) -> np.ndarray:
    """Which rows of `costs` (n x k, every column minimised) no other row dominates.

    In lexicographic order a dominating row always comes first, so one pass that checks
    each row against the front kept so far is exact.
    """
    n, k = costs.shape
    keep = np.zeros(n, dtype=bool)
    front = np.empty((n, k))
    size = 0
    for i in np.lexsort(costs.T[::-1]):
        row = costs[i]
        kept = front[:size]
        if size and np.any(np.all(kept <= row, axis=1) & np.any(kept < row, axis=1)):
            continue
        front[size] = row
        size += 1
        keep[i] = True
    return keep


def pareto_front(
    records: Sequence[CandidateRecord], metrics: Sequence[str] = FRONT_METRICS
) -> list[CandidateRecord]:
    """Measured candidates that no other beats on every metric (more accuracy, less of the rest)."""
    usable = [
        r for r in records if r.status == "ok" and all(r.metric(m) is not None for m in metrics)
    ]
    if not usable:
        return []
    signs = np.array([-1.0 if m in MAXIMIZE else 1.0 for m in metrics])
    costs = np.array([[r.metric(m) for m in metrics] for r in usable], dtype=float) * signs
    return [r for r, on in zip(usable, pareto_mask(costs), strict=True) if on]


# -- budgets and baselines -------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    label: str
    metric: str
    limit: float


DEFAULT_BUDGETS = (
    Budget("file ≤ 16 KB", "file_bytes", 16 * 1024),
    Budget("file ≤ 64 KB", "file_bytes", 64 * 1024),
    Budget("p50 ≤ 0.1 ms", "latency_p50_ms", 0.1),
    Budget("p50 ≤ 1 ms", "latency_p50_ms", 1.0),
)


@dataclass(frozen=True)
class BudgetPick:
    budget: Budget
    pick: CandidateRecord | None
    baseline: CandidateRecord | None  # the fp32 candidate of the pick's model and runtime


def best_under(records: Sequence[CandidateRecord], budget: Budget) -> CandidateRecord | None:
    """The most accurate measured candidate within the budget; among equally accurate ones,
    the one using least of the budget's own metric, then the smaller, then the faster."""

    def key(r: CandidateRecord) -> tuple[float, ...]:
        values = (r.metric(m) for m in ("accuracy", budget.metric, "file_bytes", "latency_p50_ms"))
        acc, *costs = (math.inf if v is None else v for v in values)
        return (-acc, *costs)

    fits = [
        r
        for r in records
        if r.status == "ok"
        and r.metric("accuracy") is not None
        and _at_most(r.metric(budget.metric), budget.limit)
    ]
    return min(fits, key=key, default=None)


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def fp32_baselines(records: Sequence[CandidateRecord]) -> dict[tuple[str, str], CandidateRecord]:
    """(model, runtime) -> its best uncompressed candidate."""
    best: dict[tuple[str, str], CandidateRecord] = {}
    for record in rank([r for r in records if r.compression == BASELINE]):
        best.setdefault((record.model, record.runtime), record)
    return dict(sorted(best.items()))


def budget_picks(
    records: Sequence[CandidateRecord], budgets: Sequence[Budget] = DEFAULT_BUDGETS
) -> list[BudgetPick]:
    baselines = fp32_baselines(records)
    picks = []
    for budget in budgets:
        pick = best_under(records, budget)
        base = baselines.get((pick.model, pick.runtime)) if pick else None
        picks.append(BudgetPick(budget, pick, base))
    return picks


# -- history ---------------------------------------------------------------------------


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


# -- tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False
    title: str = ""


class Cell(NamedTuple):  # a tuple: a big table has hundreds of thousands
    text: str
    value: float | str | None = None  # the sort key, when it is not the text
    href: str | None = None  # relative to the site root
    note: str | None = None  # a second, smaller line (a failure's reason)

    def compact(self, ref: Callable[[str], int]) -> int | list[object]:
        """The cell as table.js reads it from embedded JSON: ref(text), or
        [ref(text), value, href, ref(note)] without trailing nulls."""
        note = None if self.note is None else ref(self.note)
        fields = [ref(self.text), self.value, self.href, note]
        while len(fields) > 1 and fields[-1] is None:
            fields.pop()
        return fields[0] if len(fields) == 1 else fields  # type: ignore[return-value]


class Row(NamedTuple):
    cells: tuple[Cell, ...]
    kind: str = "ok"  # a CSS class: ok, failed, regressed


@dataclass(frozen=True)
class SelectFilter:
    label: str
    column: int
    options: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A sortable, filterable table; `inline` False embeds the rows as JSON for table.js."""

    id: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    filters: tuple[SelectFilter, ...] = ()
    inline: bool = True
    # Matching rows in the document at once; "Show more" adds as many again.
    page_size: int = field(default_factory=lambda: TABLE_PAGE_ROWS)

    def rows_json(self) -> dict[str, list[Any]]:
        """The rows for table.js: {"strings": [...], "rows": [[kind, cell, ...], ...]}, every
        text an index into strings (shown values repeat a lot; a 10,000-row table halves)."""
        strings: dict[str, int] = {}

        def ref(text: str) -> int:
            return strings.setdefault(text, len(strings))

        rows = [[ref(row.kind), *(c.compact(ref) for c in row.cells)] for row in self.rows]
        return {"strings": list(strings), "rows": rows}


def _num(value: float | None) -> float | int | None:
    """A sort key: finite, rounded, and an int when whole (shorter in JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


def _select(label: str, column: int, rows: Iterable[Row]) -> SelectFilter:
    return SelectFilter(label, column, tuple(sorted({r.cells[column].text for r in rows})))


def candidate_href(record: CandidateRecord) -> str:
    return f"candidates/{record.id}.html"


LEADERBOARD_COLUMNS = (
    Column("★", title="Pareto-optimal: no other candidate is more accurate, smaller and faster"),
    Column("model"), Column("policy"), Column("compression"), Column("runtime"),
    Column("accuracy [95% CI]", numeric=True), Column("robust", numeric=True, title="accuracy on the perturbed test set"),
    Column("file", numeric=True), Column("compressed", numeric=True, title="file size after zlib"),
    Column("params", numeric=True), Column("MACs", numeric=True),
    Column("p50", numeric=True), Column("p90", numeric=True), Column("status"),
)  # fmt: skip


def leaderboard_table(
    records: Sequence[CandidateRecord], front_ids: set[int | None], inline: bool
) -> Table:
    """Every candidate: ranked ones first, then the failed ones with their reason."""
    ranked = rank(records)
    ranked_ids = {r.id for r in ranked}
    ordered = ranked + [r for r in records if r.id not in ranked_ids]
    rows = tuple(_leaderboard_row(r, r.id in front_ids) for r in ordered)
    filters = (_select("runtime", 4, rows), _select("status", 13, rows))
    return Table("leaderboard", LEADERBOARD_COLUMNS, rows, filters, inline)


def _leaderboard_row(r: CandidateRecord, on_front: bool) -> Row:
    m = r.metric
    return Row(
        (
            Cell("★" if on_front else ""),  # blanks sort last: a click brings the front up
            Cell(r.model, href=candidate_href(r)),
            Cell(r.policy),
            Cell(r.compression),
            Cell(r.runtime),
            Cell(
                fmt_acc_ci(m("accuracy"), m("accuracy_low"), m("accuracy_high")),
                _num(m("accuracy")),
            ),
            Cell(fmt_pct(m("robust_accuracy")), _num(m("robust_accuracy"))),
            Cell(fmt_kb(m("file_bytes")), _num(m("file_bytes"))),
            Cell(fmt_kb(m("compressed_bytes")), _num(m("compressed_bytes"))),
            Cell(fmt_int(m("params")), _num(m("params"))),
            Cell(fmt_si(m("macs")), _num(m("macs"))),
            Cell(fmt_ms(m("latency_p50_ms")), _num(m("latency_p50_ms"))),
            Cell(fmt_ms(m("latency_p90_ms")), _num(m("latency_p90_ms"))),
            Cell(r.status, note=r.error if r.status != "ok" else None),
        ),  # fmt: skip
        "ok" if r.status == "ok" else "failed",
    )


HISTORY_COLUMNS = (
    Column("model"), Column("policy"), Column("compression"), Column("runtime"),
    Column("runs", numeric=True), Column("accuracy", numeric=True),
    Column("Δ accuracy", numeric=True, title="against the previous run of this series"),
    Column("file", numeric=True), Column("Δ file", numeric=True),
    Column("p50", numeric=True, title="latest run on this run's machine"),
    Column("Δ p50", numeric=True), Column("regressed"), Column("regressions in latest run"),
)  # fmt: skip


def history_table(
    series: Sequence[Series], hrefs: Mapping[str, str], machine_hash: str, inline: bool
) -> Table:
    """One row per series: its latest values, the change since the previous run, regressions.

    Latency comes only from runs on `machine_hash`, the reported run's machine."""
    rows = tuple(_history_row(s, hrefs.get(s.label.key), machine_hash) for s in series)
    filters = (_select("runtime", 3, rows), _select("regressed", 11, rows))
    return Table("history", HISTORY_COLUMNS, rows, filters, inline)


def _history_row(s: Series, href: str | None, machine_hash: str) -> Row:
    ok = [p for p in s.points if p.status == "ok"]
    last = ok[-1] if ok else s.points[-1]
    prev = ok[-2] if len(ok) > 1 else None
    timed = [p.latency_p50_ms for p in ok if p.machine_hash == machine_hash]
    p50 = timed[-1] if timed else None
    d_acc = _diff(prev.accuracy, last.accuracy) if prev else None
    d_file = _diff(prev.file_bytes, last.file_bytes) if prev else None
    before = timed[-2] if len(timed) > 1 else None
    d_p50 = _num(p50 / before - 1) if p50 and before else None
    latest = s.latest_regressions()
    label = s.label
    return Row(
        (
            Cell(label.model, href=href),
            Cell(label.policy),
            Cell(label.compression),
            Cell(label.runtime),
            Cell(str(len(s.points)), len(s.points)),
            Cell(fmt_pct(last.accuracy), _num(last.accuracy)),
            Cell(fmt_delta_pt(d_acc), _num(d_acc)),
            Cell(fmt_kb(last.file_bytes), _num(last.file_bytes)),
            Cell(
                MISSING if d_file is None else f"{d_file:+,.0f} B".replace("-", "−"), _num(d_file)
            ),
            Cell(fmt_ms(p50), _num(p50)),
            Cell(MISSING if d_p50 is None else fmt_change(timed[-2], timed[-1]), d_p50),
            Cell("yes" if latest else "no"),
            Cell("; ".join(r.text for r in latest)),
        ),  # fmt: skip
        "regressed" if latest else ("ok" if s.points[-1].status == "ok" else "failed"),
    )


def _diff(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before

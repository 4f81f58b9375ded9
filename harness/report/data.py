"""What the report shows, computed from stored rows (pure functions, no I/O).

Pareto fronts, the best pick under common budgets and the rows of the site's tables; the
number formats are in harness.report.formats, the history series in harness.report.history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.report import scores, ties
from harness.report.formats import (
    MISSING,
    fmt_change,
    fmt_delta_pt,
    fmt_int,
    fmt_kb,
    fmt_ms,
    fmt_pct,
    fmt_si,
)
from harness.report.history import Series
from harness.report.tables import (  # noqa: F401  (the tables' types, imported from here too)
    TABLE_PAGE_ROWS,
    Cell,
    Column,
    Row,
    SelectFilter,
    Table,
    _num,
    _select,
)
from harness.report.throughput import fmt_throughput, macs_per_second
from harness.report.ties import Pick
from harness.specs import DEFAULT_BUDGETS, BudgetSpec
from harness.store.results import CandidateRecord
from harness.sweep.plan import BASELINE

# Metrics where more is better; every other metric is a cost.
MAXIMIZE = frozenset(
    {"accuracy", "accuracy_low", "accuracy_high", "robust_accuracy", "throughput_per_s",
     "parity_agreement"}
)  # fmt: skip
FRONT_METRICS = ("accuracy", "file_bytes", "latency_p50_ms")


def compression_family(label: str) -> str:
    """The first word of a compression label: 'prune 50% + int8' -> 'prune'."""
    words = label.split()
    return words[0] if words else label


# -- ranking ----------------------------------------------------------------------------


def rank(records: Sequence[CandidateRecord]) -> list[CandidateRecord]:
    """Measured candidates by task (harness.report.scores), each task's best score first;
    ties go to the smaller, then faster model (unscored models: by size, then latency)."""
    out: list[CandidateRecord] = []
    for score, group in scores.by_task(records):

        def key(r: CandidateRecord, s: scores.Score = score) -> tuple[float, float, float]:
            return (
                -s.goodness(r)[0],
                r.metric("file_bytes") or 0.0,
                r.metric("latency_p50_ms") or 0.0,
            )

        out += sorted((r for r in group if scores.has_score(r)), key=key)
    return out


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
    """Measured candidates that no other beats on every metric (more accuracy, less of the
    rest: MAE and RMSE are costs too); callers pass records of one task."""
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
class BudgetPick:
    budget: BudgetSpec
    pick: CandidateRecord | None
    baseline: CandidateRecord | None  # the fp32 candidate of the pick's model and runtime
    tied: str = ""  # what the pick is tied with on accuracy


def best_under(records: Sequence[CandidateRecord], budget: BudgetSpec) -> CandidateRecord | None:
    """The most accurate measured candidate within the budget; among those tied with it on
    accuracy (harness.report.ties), the smaller, then the faster."""
    pick = best_pick_under(records, budget)
    return pick.record if pick else None


def best_pick_under(records: Sequence[CandidateRecord], budget: BudgetSpec) -> Pick | None:
    fits = [
        r
        for r in records
        if scores.has_score(r) and _at_most(r.metric(budget.metric), budget.limit)
    ]
    return ties.best(fits)


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def engine(record: CandidateRecord) -> str:
    """The runtime behind a candidate's target ('litert' for a target named 'litert int8')."""
    info = record.details.get("runtime_info") or {}
    return str(info.get("name") or record.runtime)


def is_float_baseline(record: CandidateRecord) -> bool:
    """Uncompressed and run in float: a target that quantizes at conversion (LiteRT's
    `quantize = "int8"`) makes an int8 model even from the fp32 compression setting."""
    settings = (record.details.get("runtime_info") or {}).get("settings") or {}
    return record.compression == BASELINE and settings.get("quantize", "none") == "none"


def matches_target(record: CandidateRecord, name: str) -> bool:
    """`name` is the candidate's target as the config names it, its runtime, or its device."""
    return name in (record.runtime, engine(record), record.device)


def fp32_baselines(records: Sequence[CandidateRecord]) -> dict[tuple[str, str], CandidateRecord]:
    """(model, runtime) -> its best uncompressed candidate."""
    best: dict[tuple[str, str], CandidateRecord] = {}
    for record in rank([r for r in records if is_float_baseline(r)]):
        best.setdefault((record.model, record.runtime), record)
    return dict(sorted(best.items()))


def stored_budgets(report: dict[str, Any] | None) -> tuple[BudgetSpec, ...]:
    """The budget boxes a run's config asked for (stored with the run), else the defaults."""
    if not report or not report.get("budgets"):
        return DEFAULT_BUDGETS
    return tuple(BudgetSpec(**b) for b in report["budgets"])


def budget_picks(
    records: Sequence[CandidateRecord], budgets: Sequence[BudgetSpec] = DEFAULT_BUDGETS
) -> list[BudgetPick]:
    baselines = fp32_baselines(records)
    picks = []
    for budget in budgets:
        found = best_pick_under(records, budget)
        pick = found.record if found else None
        base = baselines.get((pick.model, pick.runtime)) if pick else None
        picks.append(BudgetPick(budget, pick, base, found.tied_text() if found else ""))
    return picks


# -- tables ----------------------------------------------------------------------------


def candidate_href(record: CandidateRecord) -> str:
    return f"candidates/{record.id}.html"


_HEAD_COLUMNS = (
    Column("★", title="Pareto-optimal: no other candidate of its task has a better score and is smaller and faster"),
    Column("model"), Column("policy"), Column("compression"), Column("runtime"),
)  # fmt: skip
_TAIL_COLUMNS = (
    Column("file", numeric=True), Column("compressed", numeric=True, title="file size after zlib"),
    Column("params", numeric=True), Column("MACs", numeric=True),
    Column("p50", numeric=True), Column("p90", numeric=True),
    Column("MAC/s", numeric=True, title="MACs per second at p50, and the share of one core's measured float32 peak: near it, latency is compute-bound; far below, call overhead decides"),
    Column("status"),
)  # fmt: skip


def _score_columns(tasks: Sequence[str]) -> tuple[Column, ...]:
    """The columns of each task's score present (none for unscored models)."""
    return tuple(
        Column(label, numeric=True, title=title)
        for t in tasks for label, title, _, _ in scores.SCORES.get(t).columns
    )  # fmt: skip


# A run of classifiers (and any run stored before tasks): accuracy and robust accuracy.
LEADERBOARD_COLUMNS = _HEAD_COLUMNS + _score_columns(["classify"]) + _TAIL_COLUMNS


def leaderboard_table(
    records: Sequence[CandidateRecord],
    front_ids: set[int | None],
    inline: bool,
    peak: float | None = None,
) -> Table:
    """Every candidate: ranked first, then failed ones with their reason; MAC/s vs `peak`.
    A score's columns appear when a candidate of its task is measured (a run of unscored
    models has none); other tasks' candidates show "–" in them."""
    ranked = rank(records)
    ranked_ids = {r.id for r in ranked}
    ordered = ranked + [r for r in records if r.id not in ranked_ids]
    tasks = scores.tasks_in(records) or ["classify"]
    shown = [(t, c) for t in tasks for c in scores.SCORES.get(t).columns]
    rows = tuple(_leaderboard_row(r, r.id in front_ids, peak, shown) for r in ordered)
    columns = _HEAD_COLUMNS + _score_columns(tasks) + _TAIL_COLUMNS
    filters = (_select("runtime", 4, rows), _select("status", len(columns) - 1, rows))
    return Table("leaderboard", columns, rows, filters, inline)


def _leaderboard_row(
    r: CandidateRecord, on_front: bool, peak: float | None, shown: Sequence[tuple[Any, ...]]
) -> Row:
    m = r.metric
    rate = macs_per_second(r)
    task = scores.task_of(r)
    score_cells = tuple(
        Cell(text(r), _num(m(metric))) if task == owner else Cell(MISSING)
        for owner, (_, _, metric, text) in shown
    )
    return Row(
        (
            Cell("★" if on_front else ""),  # blanks sort last: a click brings the front up
            Cell(r.model, href=candidate_href(r)),
            Cell(r.policy),
            Cell(r.compression),
            Cell(r.runtime),
            *score_cells,
            Cell(fmt_kb(m("file_bytes")), _num(m("file_bytes"))),
            Cell(fmt_kb(m("compressed_bytes")), _num(m("compressed_bytes"))),
            Cell(fmt_int(m("params")), _num(m("params"))),
            Cell(fmt_si(m("macs")), _num(m("macs"))),
            Cell(fmt_ms(m("latency_p50_ms")), _num(m("latency_p50_ms"))),
            Cell(fmt_ms(m("latency_p90_ms")), _num(m("latency_p90_ms"))),
            Cell(fmt_throughput(rate, peak), _num(rate)),
            Cell(r.status, note=short_reason(r.error) if r.status != "ok" else None),
        ),  # fmt: skip
        "ok" if r.status == "ok" else "failed",
    )


NOTE_LENGTH = 90  # characters of a reason in a table cell; the failures table has it whole


def short_reason(error: str | None) -> str:
    """A failure's reason cut to fit a table cell."""
    text = (error or "no reason recorded").splitlines()[0]
    return text if len(text) <= NOTE_LENGTH else text[: NOTE_LENGTH - 1] + "…"


@dataclass(frozen=True)
class FailureGroup:
    reason: str  # the first line of the error, as stored
    records: tuple[CandidateRecord, ...]


def failure_groups(records: Sequence[CandidateRecord]) -> list[FailureGroup]:
    """Failed and unsupported candidates grouped by their reason, the most common first."""
    groups: dict[str, list[CandidateRecord]] = {}
    for r in records:
        if r.status != "ok":
            reason = (r.error or "no reason recorded").splitlines()[0]
            groups.setdefault(reason, []).append(r)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [FailureGroup(reason, tuple(rs)) for reason, rs in ordered]


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
    timed = [p.latency_p50_ms for p in ok if p.machine_hash == (s.machine_hash or machine_hash)]
    p50 = timed[-1] if timed else None
    d_acc = _diff(prev.accuracy, last.accuracy) if prev else None
    d_file = _diff(prev.file_bytes, last.file_bytes) if prev else None
    before = timed[-2] if len(timed) > 1 else None
    d_p50 = _num(p50 / before - 1) if p50 and before else None
    latest = s.latest_regressions()
    unsure = s.latest_inconclusive()
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
            Cell("yes" if latest else ("inconclusive" if unsure else "no")),
            Cell("; ".join(r.text for r in (*latest, *unsure))),
        ),  # fmt: skip
        "regressed" if latest else ("ok" if s.points[-1].status == "ok" else "failed"),
    )


def _diff(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before

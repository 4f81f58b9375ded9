"""Deployment pick: the Pareto-optimal candidates that meet a budget, best first, and
an explanation of which constraint binds when none does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import ConfigError
from harness.registry import nearest
from harness.report import scores, ties
from harness.report.data import (
    engine,
    matches_target,
)
from harness.store.results import CandidateRecord
from harness.units import duration_ms, size_bytes

SELECT_METRICS = ("file_bytes", "latency_p50_ms")  # and the candidate's score, by its task


def parse_size(text: str) -> float:
    """'64KB' -> 65536 bytes (KB and KiB both mean 1024 bytes, as the report shows them)."""
    size = size_bytes(text)
    if size is None:
        raise ConfigError(f"--max-size: cannot read '{text}'; write e.g. 64KB, 1.5MB or 20000")
    return size


def parse_duration(text: str) -> float:
    """'1ms' -> 1.0, '500us' -> 0.5 (milliseconds)."""
    duration = duration_ms(text)
    if duration is None:
        raise ConfigError(f"--max-p50: cannot read '{text}'; write e.g. 1ms, 250us or 0.002s")
    return duration


def parse_accuracy(text: str) -> float:
    """'0.97' or '97%' -> 0.97."""
    value = text.strip()
    try:
        number = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"--min-accuracy: cannot read '{text}'; write a fraction (0.97) or 97%")
    return number


def parse_error(text: str) -> float:
    """'0.05' -> 0.05: a largest mean absolute error, in the targets' units."""
    try:
        number = float(text.strip())
    except ValueError:
        number = -1.0
    if not number >= 0.0:
        raise ConfigError(f"--max-mae: cannot read '{text}'; write a number >= 0, e.g. 0.05")
    return number


@dataclass(frozen=True)
class Budget:
    max_size: float | None = None  # bytes
    max_p50: float | None = None  # milliseconds
    min_accuracy: float | None = None
    runtime: str | None = None
    max_mae: float | None = None  # a regression model's error, in its targets' units

    def limits(self) -> list[tuple[str, str, float]]:
        """(label, metric, limit) for each constraint given; a limit on accuracy is a minimum."""
        out = []
        if self.max_size is not None:
            out.append((f"size <= {self.max_size / 1024:g} KB", "file_bytes", self.max_size))
        if self.max_p50 is not None:
            out.append((f"p50 <= {self.max_p50:g} ms", "latency_p50_ms", self.max_p50))
        if self.min_accuracy is not None:
            out.append((f"accuracy >= {self.min_accuracy:g}", "accuracy", self.min_accuracy))
        if self.max_mae is not None:
            out.append((f"MAE <= {self.max_mae:g}", "mae", self.max_mae))
        return out


# A budget on a score: its option, its Budget field, and the task scored by it.
SCORE_BUDGETS = (
    ("--min-accuracy", "min_accuracy", "classify"),
    ("--max-mae", "max_mae", "regress"),
)


def score_budget_problem(records: Sequence[CandidateRecord], budget: Budget) -> str | None:
    """A budget on a score that no measured candidate of the run is scored by: one line
    naming the run's tasks and what would apply, rather than an empty pick."""
    tasks = scores.tasks_in(records)
    for option, field, task in SCORE_BUDGETS:
        if getattr(budget, field) is None or task in tasks:
            continue
        others = [o for o, _, t in SCORE_BUDGETS if t in tasks]
        hint = f"use {others[0]}" if others else "budget --max-size and --max-p50 only"
        return (
            f"{option}: no candidate of this run is scored by {scores.SCORES.get(task).name} "
            f"(its tasks: {', '.join(tasks) or 'none measured'}); {hint}"
        )
    return None


def decides(records: Sequence[CandidateRecord], budget: Budget) -> list[str]:
    """What the pick is decided on, when it is not only accuracy."""
    tasks = scores.tasks_in(eligible(records, budget))
    lines = []
    if "regress" in tasks:
        lines.append("regression models: picked on MAE (lower is better), then size, then p50")
    if "none" in tasks:
        lines.append(
            "models measured without a score: picked on size and p50 only (no accuracy or "
            "error to compare)"
        )
    if len(tasks) > 1:
        lines.append("each task is ranked on its own: an accuracy and an error are not one scale")
    return lines


def unknown_target(records: Sequence[CandidateRecord], name: str) -> str | None:
    """Why `--runtime name` matches no candidate of the run (None when it matches one)."""
    if any(matches_target(r, name) for r in records):
        return None
    targets = sorted(
        {r.runtime for r in records}
        | {engine(r) for r in records}
        | {r.device or "" for r in records}
    )
    targets = [t for t in targets if t]
    return (
        f"no candidate of this run ran on '{name}'{nearest(name, targets)}; "
        f"targets and runtimes here: {', '.join(targets)}"
    )


def _meets(record: CandidateRecord, metric: str, limit: float) -> bool:
    value = record.metric(metric)
    if value is None:
        return False
    return value >= limit if metric == "accuracy" else value <= limit


def eligible(records: Sequence[CandidateRecord], budget: Budget) -> list[CandidateRecord]:
    pool = [
        r
        for r in records
        if scores.has_score(r) and all(r.metric(m) is not None for m in SELECT_METRICS)
    ]
    if budget.runtime:
        pool = [r for r in pool if matches_target(r, budget.runtime)]
    return pool


def select(records: Sequence[CandidateRecord], budget: Budget) -> list[CandidateRecord]:
    """Candidates within every limit and on the Pareto front (accuracy, size, p50), best
    first, ties as harness.report.ties rules them."""
    return [p.record for p in select_picks(records, budget)]


def select_picks(records: Sequence[CandidateRecord], budget: Budget) -> list[ties.Pick]:
    """`select`, each pick with the candidates it is tied with."""
    within = [
        r
        for r in eligible(records, budget)
        if all(_meets(r, m, lim) for _, m, lim in budget.limits())
    ]
    picks = ties.ranked(ties.front(within))
    if not picks:
        return picks
    # What each pick is tied with among everything within the budget, not only the front:
    # a tied, more accurate candidate it beat on size is what a reader needs to know.
    pools = {s.task: ties.Ties.of(group) for s, group in scores.by_task(within)}
    out = []
    for pick in picks:
        pool = pools[scores.task_of(pick.record)]
        i = next(k for k, r in enumerate(pool.records) if r is pick.record)
        tied = pool.accuracy_tied(i) & (pool.accuracy >= pool.accuracy[i])
        tied[i] = False
        out.append(ties.Pick(pick.record, tuple(pool.records[j] for j in np.flatnonzero(tied))))
    return out


def explain_none(records: Sequence[CandidateRecord], budget: Budget) -> list[str]:
    """Why nothing fits: how many candidates each limit admits alone, and the best
    reachable value of each limit's metric under the other limits."""
    pool = eligible(records, budget)
    if not pool:
        where = f" on {budget.runtime}" if budget.runtime else ""
        return [f"no measured candidate{where} in this run"]
    limits = budget.limits()
    lines = []
    for label, metric, limit in limits:
        alone = sum(_meets(r, metric, limit) for r in pool)
        others = [
            r for r in pool if all(_meets(r, m, lim) for lab, m, lim in limits if lab != label)
        ]
        values = [v for r in others if (v := r.metric(metric)) is not None]
        if not values:
            reach = "nothing meets the other limits either"
        elif metric == "accuracy":
            reach = f"best under the other limits: {max(values):.4f}"
        elif metric == "mae":
            reach = f"lowest MAE under the other limits: {min(values):.4g}"
        elif metric == "file_bytes":
            reach = f"smallest under the other limits: {min(values) / 1024:.1f} KB"
        else:
            reach = f"fastest under the other limits: {min(values):.4g} ms"
        binds = " <- binds: relaxing it alone admits a candidate" if others else ""
        lines.append(f"{label}: {alone} of {len(pool)} candidates meet it alone; {reach}{binds}")
    return lines

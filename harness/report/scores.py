"""What a candidate is scored on, by its model's task (pure): one registry entry per task
with its stored column, its 95% interval, which way is better, its column label and
its text, so tables, charts, fronts, picks and comparisons ask the score, not the task.

- classify: accuracy, higher is better.
- regress: MAE against the targets, lower is better (RMSE is shown beside it).
- none: nothing scored; such a candidate is ranked and put on fronts by size and
  latency alone, and shows "–" where a score would be.

Candidates of different tasks are never ranked against each other: an accuracy and an
error are not one scale. Decisions are made per task, in SCORES order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.registry import Registry
from harness.report.formats import MISSING, fmt_acc_ci, fmt_change, fmt_delta_pt, fmt_pct, fmt_sci
from harness.store.results import CandidateRecord

TASK_ORDER = ("classify", "regress", "none")


@dataclass(frozen=True)
class Score:
    task: str
    metric: str | None  # the stored column; None: nothing is scored
    low: str | None  # its 95% interval's columns
    high: str | None
    sign: float  # +1: higher is better; -1: lower is better
    text: Callable[[CandidateRecord], str]  # a candidate's score, as tables show it
    name: str = ""  # in a sentence and as a short header: "accuracy", "MAE"
    axis: str = ""  # a chart's axis title
    # The leaderboard's columns of this score: (label, title, metric, text of a record).
    columns: tuple[tuple[str, str, str, Callable[[CandidateRecord], str]], ...] = ()
    section: str = "Score"  # the candidate page's section of it, and its rows
    rows: Callable[[CandidateRecord], list[tuple[str, str]]] = lambda r: []
    change: Callable[[float, float], str] = lambda before, after: ""  # base -> head

    @property
    def title(self) -> str:
        """Its main column's header: "accuracy [95% CI]", "MAE [95% CI]", or "score"."""
        return self.columns[0][0] if self.columns else "score"

    @property
    def scored(self) -> bool:
        return self.metric is not None

    def value(self, r: CandidateRecord) -> float | None:
        return r.metric(self.metric) if self.metric else None

    def goodness(self, r: CandidateRecord) -> tuple[float, float, float]:
        """(value, low, high) turned so that more is better: accuracy as it is, MAE
        negated (its interval swapped); (0, 0, 0) when nothing is scored, so that every
        unscored candidate ties and size and latency decide."""
        if not self.metric or not self.low or not self.high:
            return 0.0, 0.0, 0.0
        v, lo, hi = (r.metric(k) or 0.0 for k in (self.metric, self.low, self.high))
        return (v, lo, hi) if self.sign > 0 else (-v, -hi, -lo)


def _accuracy_text(r: CandidateRecord) -> str:
    return fmt_acc_ci(r.metric("accuracy"), r.metric("accuracy_low"), r.metric("accuracy_high"))


def fmt_error(value: float | None) -> str:
    return fmt_sci(value)


def _mae_text(r: CandidateRecord) -> str:
    mae, low, high = (r.metric(k) for k in ("mae", "mae_low", "mae_high"))
    if mae is None:
        return MISSING
    if low is None or high is None:
        return fmt_error(mae)
    return f"{fmt_error(mae)} [{fmt_error(low)}, {fmt_error(high)}]"


def _accuracy_rows(r: CandidateRecord) -> list[tuple[str, str]]:
    return [
        ("accuracy [95% CI]", _accuracy_text(r)),
        ("robust accuracy", fmt_pct(r.metric("robust_accuracy"))),
        ("test samples", _count(r.metric("n_test"))),
    ]


def _error_rows(r: CandidateRecord) -> list[tuple[str, str]]:
    return [
        ("MAE [95% CI] (lower is better)", _mae_text(r)),
        ("RMSE (lower is better)", fmt_error(r.metric("rmse"))),
        ("test samples", _count(r.metric("n_test"))),
    ]


def _unscored_rows(r: CandidateRecord) -> list[tuple[str, str]]:
    return [("task", "none: measured without a score (size, load time, latency, memory, "
                     "parity with ONNX Runtime)")]  # fmt: skip


def _count(n: float | None) -> str:
    return MISSING if n is None else f"{round(n):,}"


SCORES: Registry[Score] = Registry("task")
SCORES.register(
    "classify",
    Score("classify", "accuracy", "accuracy_low", "accuracy_high", 1.0, _accuracy_text,
          name="accuracy", axis="accuracy (%)",
          columns=(("accuracy [95% CI]", "", "accuracy", _accuracy_text),
                   ("robust", "accuracy on the perturbed test set", "robust_accuracy",
                    lambda r: fmt_pct(r.metric("robust_accuracy")))),
          section="Accuracy", rows=_accuracy_rows,
          change=lambda before, after: fmt_delta_pt(after - before)),
)  # fmt: skip
SCORES.register(
    "regress",
    Score("regress", "mae", "mae_low", "mae_high", -1.0, _mae_text,
          name="MAE", axis="MAE (lower is better)",
          columns=(("MAE [95% CI]", "mean absolute error against the targets: lower is better",
                    "mae", _mae_text),
                   ("RMSE", "root mean squared error against the targets: lower is better",
                    "rmse", lambda r: fmt_error(r.metric("rmse")))),
          section="Error against the targets", rows=_error_rows,
          change=lambda before, after: f"MAE {fmt_change(before, after)}"),
)  # fmt: skip
SCORES.register(
    "none", Score("none", None, None, None, 1.0, lambda r: MISSING, rows=_unscored_rows)
)


def task_of(r: CandidateRecord) -> str:
    """The task a candidate was measured as: stored with it (unscored rows always said
    so), else a classifier, as every row stored before tasks is."""
    task = r.details.get("task")
    if isinstance(task, str) and task in SCORES:
        return task
    return "regress" if r.metric("mae") is not None else "classify"


def score_of(r: CandidateRecord) -> Score:
    return SCORES.get(task_of(r))


def by_task(records: Sequence[CandidateRecord]) -> list[tuple[Score, list[CandidateRecord]]]:
    """The records grouped by task, in TASK_ORDER, empty groups left out."""
    groups: dict[str, list[CandidateRecord]] = {}
    for r in records:
        groups.setdefault(task_of(r), []).append(r)
    return [(SCORES.get(t), groups[t]) for t in TASK_ORDER if t in groups]


def tasks_in(records: Sequence[CandidateRecord]) -> list[str]:
    """The tasks of the measured candidates, in TASK_ORDER."""
    return [s.task for s, group in by_task(records) if any(r.status == "ok" for r in group)]


def has_score(r: CandidateRecord) -> bool:
    """Measured, and scored as its task says (an unscored task always is)."""
    score = score_of(r)
    return r.status == "ok" and (not score.scored or score.value(r) is not None)


def score_label(records: Sequence[CandidateRecord]) -> str:
    """A column header for the score of these candidates: the task's when they share one."""
    tasks = tasks_in(records)
    return (SCORES.get(tasks[0]).name or "score") if len(tasks) == 1 else "score"


def score_change(pick: CandidateRecord, base: CandidateRecord) -> str:
    """How `pick`'s score differs from `base`'s, as its task states it: accuracy points,
    or MAE's relative change (a plain difference: lower is better); "" when unscored."""
    score = score_of(pick)
    after, before = score.value(pick), score.value(base)
    if not score.scored:
        return ""
    return MISSING if after is None or before is None else score.change(before, after)

"""The [report] section: how the site presents a run (budget boxes), not what it measures."""

from __future__ import annotations

from harness.config.sections import Section
from harness.specs import DEFAULT_BUDGETS, BudgetSpec, ReportSpec
from harness.units import duration_ms, size_bytes

# config key -> (metric, reader, label); labels in the units the leaderboard prints.
BUDGET_KINDS = {
    "file": ("file_bytes", size_bytes, lambda v: f"file ≤ {v / 1024:g} KB", "16KB, 1.5MB"),
    "p50": ("latency_p50_ms", duration_ms, lambda v: f"p50 ≤ {v:g} ms", "100us, 1ms"),
}


def report(sec: Section) -> ReportSpec:
    """`[report.budgets] file = ["16KB", "64KB"], p50 = ["100us", "1ms"]`; a kind left out
    keeps its defaults."""
    budgets_sec = Section(sec.get("budgets", dict, default={}), sec.key("budgets"), sec.errors)
    budgets: list[BudgetSpec] = []
    for kind, (metric, read, label, example) in BUDGET_KINDS.items():
        given = budgets_sec.get(kind, list, default=None)
        if given is None:
            budgets += [b for b in DEFAULT_BUDGETS if b.metric == metric]
            continue
        for i, text in enumerate(given):
            value = read(text) if isinstance(text, str) else None
            if value is None or value <= 0:
                budgets_sec.error(f"{kind}[{i}]", f"cannot read {text!r}; write e.g. {example}")
            else:
                budgets.append(BudgetSpec(label(value), metric, value))
    budgets_sec.finish()
    sec.finish()
    return ReportSpec(tuple(budgets))

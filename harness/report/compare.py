"""Run-versus-run comparison for nightly gating: what changed per candidate, and which
changes cross the user's thresholds. Latency changes must also stand out of the noise
of the per-run samples (Mann-Whitney U), and are only compared on the same machine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.registry import nearest
from harness.store.results import CandidateRecord, Run

# Threshold names users write -> stored metric columns.
METRICS = {
    "accuracy": "accuracy",
    "robust_accuracy": "robust_accuracy",
    "size": "file_bytes",
    "compressed": "compressed_bytes",
    "params": "params",
    "macs": "macs",
    "p50": "latency_p50_ms",
    "p90": "latency_p90_ms",
    "p99": "latency_p99_ms",
}
LATENCY = {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"}
NOISE_P_VALUE = 0.01
_RULE = re.compile(r"^\s*([a-z_0-9]+)\s*([<>])\s*([+-]?\d+(?:\.\d+)?)\s*(pt|%)?\s*$")


@dataclass(frozen=True)
class Threshold:
    """Fail when the change of `metric` is below (`<`) or above (`>`) `value`."""

    name: str
    metric: str
    op: str
    value: float
    unit: str  # "pt" (accuracy points), "%" (relative), "" (absolute)

    def crossed(self, before: float, after: float) -> bool:
        change = self.change(before, after)
        return change < self.value if self.op == "<" else change > self.value

    def change(self, before: float, after: float) -> float:
        if self.unit == "%":
            return (after - before) / before * 100 if before else 0.0
        if self.unit == "pt":
            return (after - before) * 100
        return after - before

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:+g}{self.unit}"


def parse_thresholds(text: str) -> list[Threshold]:
    """'accuracy<-0.5pt,p50>+10%,size>+0%' -> thresholds; ConfigError naming the bad rule."""
    rules = []
    for part in (p for p in text.split(",") if p.strip()):
        m = _RULE.match(part)
        if not m:
            raise ConfigError(
                f"--fail-on: cannot read '{part.strip()}'; write METRIC<VALUE or METRIC>VALUE "
                "with pt or % units, e.g. accuracy<-0.5pt,p50>+10%"
            )
        name, op, value, unit = m.groups()
        if name not in METRICS:
            raise ConfigError(
                f"--fail-on: unknown metric '{name}'{nearest(name, list(METRICS))}; "
                f"choose from: {', '.join(METRICS)}"
            )
        if unit == "pt" and METRICS[name] not in ("accuracy", "robust_accuracy"):
            raise ConfigError(f"--fail-on: 'pt' (accuracy points) does not apply to {name}; use %")
        rules.append(Threshold(name, METRICS[name], op, float(value), unit or ""))
    return rules


@dataclass(frozen=True)
class Change:
    key: str
    label: str
    metric: str
    before: float | None
    after: float | None
    crossed: tuple[str, ...]  # the thresholds this change crosses
    note: str = ""


def _label(r: CandidateRecord) -> str:
    return f"{r.model} / {r.policy} / {r.compression} / {r.runtime}"


def latency_differs(before: CandidateRecord, after: CandidateRecord) -> bool:
    """True when the two runs' timing samples differ by more than their noise."""
    from scipy.stats import mannwhitneyu

    a = before.details.get("latency", {}).get("samples_ms") or []
    b = after.details.get("latency", {}).get("samples_ms") or []
    if len(a) < 5 or len(b) < 5:
        return True  # too few samples to estimate noise: judge by the threshold alone
    return bool(mannwhitneyu(a, b).pvalue < NOISE_P_VALUE)


def compare_runs(
    base: Run,
    head: Run,
    base_rows: Sequence[CandidateRecord],
    head_rows: Sequence[CandidateRecord],
    thresholds: Sequence[Threshold],
) -> list[Change]:
    """Every metric change worth showing, each with the thresholds it crosses."""
    same_machine = base.machine_hash == head.machine_hash
    before_by_key = {r.key: r for r in base_rows}
    changes: list[Change] = []
    for after in head_rows:
        before = before_by_key.pop(after.key, None)
        label = _label(after)
        if before is None:
            changes.append(Change(after.key, label, "status", None, None, (), "new candidate"))
            continue
        if before.status == "ok" and after.status != "ok":
            note = f"now failing: {after.error}"
            changes.append(Change(after.key, label, "status", None, None, ("status",), note))
            continue
        if after.status != "ok":
            continue
        for metric in dict.fromkeys(
            [t.metric for t in thresholds] + ["accuracy", "file_bytes", "latency_p50_ms"]
        ):
            b, a = before.metric(metric), after.metric(metric)
            if b is None or a is None or a == b:
                continue
            if metric in LATENCY and not same_machine:
                continue
            crossed = tuple(str(t) for t in thresholds if t.metric == metric and t.crossed(b, a))
            note = ""
            if crossed and metric in LATENCY and not latency_differs(before, after):
                crossed, note = (), "within run-to-run noise"
            changes.append(Change(after.key, label, metric, b, a, crossed, note))
    for gone in before_by_key.values():
        changes.append(
            Change(gone.key, _label(gone), "status", None, None, (), "no longer in the sweep")
        )
    return changes

"""Run-versus-run comparison for nightly gating: what changed per candidate, and which
changes cross the user's thresholds. Latency is only compared on the same machine, and a
latency change fails only when it also stands out of the noise (harness.report.noise):
otherwise it is inconclusive, which `harness compare` reports with its own exit status."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.registry import nearest
from harness.report import noise, ties
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
    "mae": "mae",  # regression models: a plain difference, lower is better
    "rmse": "rmse",
}
# A score metric names the task scored by it: a threshold on it needs such candidates.
SCORE_TASKS = {"accuracy": "classify", "robust_accuracy": "classify", "mae": "regress",
               "rmse": "regress"}  # fmt: skip
LATENCY = {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"}
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
            raise ConfigError(
                f"--fail-on: 'pt' (accuracy points) does not apply to {name}; use % or a plain "
                "difference"
            )
        rules.append(Threshold(name, METRICS[name], op, float(value), unit or ""))
    return rules


def threshold_problem(
    thresholds: Sequence[Threshold], rows: Sequence[CandidateRecord]
) -> str | None:
    """A threshold on a score no candidate of either run is scored by (accuracy on a run of
    regression models): one line, rather than a gate that can never fail."""
    from harness.report.scores import tasks_in

    tasks = tasks_in(rows)
    for t in thresholds:
        task = SCORE_TASKS.get(t.metric)
        if task and task not in tasks:
            usable = [n for n, task_of in SCORE_TASKS.items() if task_of in tasks]
            hint = f"use {' or '.join(usable)}" if usable else "gate on size and p50"
            return (
                f"--fail-on: {t}: no candidate of these runs has {t.name} (their tasks: "
                f"{', '.join(tasks) or 'none measured'}); {hint}"
            )
    return None


def _mae_note(before: CandidateRecord, after: CandidateRecord) -> str:
    """A plain difference of MAE, with the tie rule of the report: paired on the per-sample
    errors when both rows kept them (the same key is the same data and split, so the same
    test samples), else whether each MAE lies in the other's 95% interval."""
    pair = ties.Ties.of([before, after])
    if pair.errors is not None:
        tied = bool(pair.accuracy_tied(0)[1])
        return "plain difference; paired on the test samples: " + (
            "within the noise (tied)" if tied else "beyond the noise"
        )
    low_b, high_b = before.metric("mae_low"), before.metric("mae_high")
    low_a, high_a = after.metric("mae_low"), after.metric("mae_high")
    b, a = before.metric("mae"), after.metric("mae")
    if None in (low_b, high_b, low_a, high_a, a, b):
        return "plain difference"
    inside = low_b <= a <= high_b and low_a <= b <= high_a  # type: ignore[operator]
    return "plain difference; " + ("inside both 95% intervals (tied)" if inside
                                    else "outside the 95% interval")  # fmt: skip


@dataclass(frozen=True)
class Change:
    key: str
    label: str
    metric: str
    before: float | None
    after: float | None
    crossed: tuple[str, ...]  # the thresholds this change crosses
    note: str = ""
    inconclusive: bool = False  # beyond a latency threshold, but inside the noise band


def _label(r: CandidateRecord) -> str:
    return f"{r.model} / {r.policy} / {r.compression} / {r.runtime}"


def _same_file(before: CandidateRecord, after: CandidateRecord) -> bool:
    return bool(before.artifact_sha256) and (before.artifact_sha256, before.runtime_version) == (
        after.artifact_sha256,
        after.runtime_version,
    )


@dataclass(frozen=True)
class NoiseInputs:
    """What the latency judgement needs beyond the two runs' rows: each run's round p50s
    per key, and earlier same-file log changes of p50 per runtime (from history)."""

    base_rounds: Mapping[str, Sequence[float]] = field(default_factory=dict)
    head_rounds: Mapping[str, Sequence[float]] = field(default_factory=dict)
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)


def _noise_sd(
    before: CandidateRecord,
    after: CandidateRecord,
    metric: str,
    pairs: Mapping[tuple[str, str], list[float]],
    within: tuple[Mapping[str, noise.Noise], Mapping[str, noise.Noise]],
    inputs: NoiseInputs,
) -> float | None:
    runtime = after.runtime
    own = pairs.get((runtime, metric), [])
    across = noise.same_file_noise(
        own if len(own) >= noise.MIN_PAIRS else [*own, *inputs.history.get(runtime, [])]
    )
    return noise.band_sd(
        across,
        within[0].get(runtime),
        len(inputs.base_rounds.get(before.key, ())) or 1,
        within[1].get(runtime),
        len(inputs.head_rounds.get(after.key, ())) or 1,
    )


def _timed_on(run: Run, row: CandidateRecord) -> str:
    """The machine that timed a row: its target's node (measured on a device), or the
    run's own. Latency is compared only between rows timed on the same one."""
    from harness.measure.machine import machine_hash

    return run.machine_hash if row.node_machine is None else machine_hash(row.node_machine)


def compare_runs(
    base: Run,
    head: Run,
    base_rows: Sequence[CandidateRecord],
    head_rows: Sequence[CandidateRecord],
    thresholds: Sequence[Threshold],
    inputs: NoiseInputs | None = None,
) -> list[Change]:
    """Every metric change worth showing, each with the thresholds it crosses."""
    inputs = inputs or NoiseInputs()
    before_by_key = {r.key: r for r in base_rows}
    pairs = _same_file_pairs(base_rows, head_rows)
    within = (
        noise.pooled_by_runtime(inputs.base_rounds, {r.key: r.runtime for r in base_rows}),
        noise.pooled_by_runtime(inputs.head_rounds, {r.key: r.runtime for r in head_rows}),
    )
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
            [t.metric for t in thresholds] + ["accuracy", "mae", "file_bytes", "latency_p50_ms"]
        ):
            b, a = before.metric(metric), after.metric(metric)
            if b is None or a is None or a == b:
                continue
            if metric in LATENCY and _timed_on(base, before) != _timed_on(head, after):
                continue
            crossed = tuple(str(t) for t in thresholds if t.metric == metric and t.crossed(b, a))
            note, inconclusive = (_mae_note(before, after) if metric == "mae" else ""), False
            if metric in LATENCY and (crossed or _same_file(before, after)):
                sd = _noise_sd(before, after, metric, pairs, within, inputs)
                verdict = noise.judge(b, a, 0.0, sd, _same_file(before, after))
                note = verdict.text
                if verdict.kind != noise.REGRESSION:
                    inconclusive = bool(crossed) and verdict.kind == noise.INCONCLUSIVE
                    crossed = ()
            changes.append(Change(after.key, label, metric, b, a, crossed, note, inconclusive))
    for gone in before_by_key.values():
        changes.append(
            Change(gone.key, _label(gone), "status", None, None, (), "no longer in the sweep")
        )
    return changes


def _same_file_pairs(
    base_rows: Sequence[CandidateRecord], head_rows: Sequence[CandidateRecord]
) -> dict[tuple[str, str], list[float]]:
    """(runtime, latency metric) -> log(head / base) of the candidates whose file and
    runtime version did not change: this comparison's own noise samples."""
    before = {r.key: r for r in base_rows if r.status == "ok"}
    out: dict[tuple[str, str], list[float]] = {}
    for after in head_rows:
        prior = before.get(after.key)
        if after.status != "ok" or prior is None or not _same_file(prior, after):
            continue
        for metric in LATENCY:
            b, a = prior.metric(metric), after.metric(metric)
            if b and a:
                out.setdefault((after.runtime, metric), []).append(math.log(a / b))
    return out

"""Latency rounds: every candidate is timed in R fresh worker processes, interleaved
round-robin over the plan (round 1 of every candidate, then round 2 of every one, ...),
as asv and pyperf do, so a busy minute of the machine hits every candidate a little
instead of one candidate a lot.

The first round also answers the test sets (accuracy, parity) and times the extra batch
sizes; later rounds only time the primary batch, with a 1/R share of the timing budget.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.errors import one_line
from harness.measure.latency import combine_rounds, keep_samples, round_summary
from harness.specs import LatencySpec
from harness.sweep.evaluate import evaluate, reference_outputs
from harness.sweep.plan import Candidate
from harness.train.datasets import Splits

T = TypeVar("T")


def round_robin(items: Sequence[T], rounds: int) -> list[tuple[int, T]]:
    """(round, item) in the order they are measured: every item's round 0, then round 1..."""
    return [(r, item) for r in range(rounds) for item in items]


@dataclass
class Pending:
    """A candidate whose model file is ready, collecting its rounds."""

    cand: Candidate
    model_path: Path
    metrics: dict[str, Any]
    details: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)
    error: str | None = None
    version: str | None = None
    node: str | None = None  # measured on a Ray node: its name, and its machine
    machine: dict[str, Any] | None = None


def measure_in_rounds(
    pending: Sequence[Pending],
    latency: LatencySpec,
    eval_inputs: list[Path],
    splits: Splits,
    advance: Any,
    cpus: Sequence[int] | None = None,
) -> Iterator[tuple[Pending, int]]:
    """Measure every pending candidate in latency.rounds interleaved rounds; yields each one
    when it is done (all rounds, or a failure) with its progress steps still to advance.
    `cpus`: the cores the measuring processes are held to (default: this process's)."""
    from harness.measure.zygote import Zygotes

    with Zygotes(cpus) as zygotes:
        yield from _rounds(pending, latency, eval_inputs, splits, advance, zygotes)


def _rounds(
    pending: Sequence[Pending],
    latency: LatencySpec,
    eval_inputs: list[Path],
    splits: Splits,
    advance: Any,
    zygotes: Any,
) -> Iterator[tuple[Pending, int]]:
    from harness.measure.inputs import fixed_batch_feed
    from harness.measure.runner import run_round

    total = max(1, latency.rounds)
    references: dict[str, list[np.ndarray]] = {}  # compression job -> ONNX Runtime's outputs
    for r, p in round_robin(pending, total):
        if p.error is not None:
            continue
        try:
            zygote = zygotes.get(p.cand.runtime.engine)
            # A model with a fixed batch size is fed and timed at that size.
            feed, lat = fixed_batch_feed(p.model_path, latency)
            result = run_round(p.model_path, p.cand.runtime, eval_inputs, lat, r == 0, zygote, feed)
            if r == 0:
                measured, extra = evaluate(
                    result,
                    splits.test[1],
                    splits.dataset.classes,
                    lat.batch,
                    references.get(p.cand.job.key),
                    task=p.cand.job.train.model.task,
                )
                if p.cand.runtime.engine == "onnxruntime":
                    references[p.cand.job.key] = reference_outputs(result)
                p.metrics.update(measured)
                p.details.update(extra)
                p.version = result.version
                p.details["runtime_info"]["version"] = result.version
        except Exception as exc:
            p.error = f"measure (round {r + 1} of {total}): {one_line(exc)}"
            yield p, total - r
            continue
        machine = {k: v for k, v in result.placement.items() if v is not None}
        p.rounds.append({"round": r, **round_summary(result.samples_ns), "machine": machine})
        p.samples.append(result.samples_ns)
        if r < total - 1:
            advance(f"round {r + 1}/{total}: {p.cand.label}")
        else:  # the last round's step advances once the candidate is committed
            _finish(p, lat.batch)
            yield p, 1


def _finish(p: Pending, batch: int) -> None:
    """The candidate's latency from all its rounds."""
    metrics, spread = combine_rounds(p.rounds, p.samples, batch)
    p.metrics.update(metrics)
    p.details["latency"] = {
        **p.details.get("latency", {}),
        "samples_ms": keep_samples(np.concatenate(p.samples)),
        "runs": int(sum(len(s) for s in p.samples)),
        "rounds": len(p.rounds),
        **spread,
    }
    p.samples = []

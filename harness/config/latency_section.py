"""The [latency] section: how each candidate is timed (batch sizes, warm-up, run counts,
rounds), read into a LatencySpec like every other section (harness.config.sections)."""

from __future__ import annotations

from harness.config.sections import NUMBER, Section, _between, at_least
from harness.specs import LatencySpec


def _batches(value: int | list) -> str | None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        return f"must be a batch size >= 1 or a list of them, e.g. [1, 32]; got {value!r}"
    if len(set(values)) != len(values):
        return f"lists a batch size twice: {value!r}"
    return None


def latency(sec: Section) -> LatencySpec:
    batches = sec.get("batch", (int, list), default=1, check=_batches)
    batches = batches if isinstance(batches, list) else [batches]
    spec = LatencySpec(
        batch=batches[0],
        extra_batches=tuple(batches[1:]),
        warmup=sec.get("warmup", int, default=20, check=at_least(0)),
        min_runs=sec.get("min_runs", int, default=100, check=at_least(1)),
        min_seconds=sec.get("min_seconds", NUMBER, default=0.5, check=_between(0, 3600)),
        max_runs=sec.get("max_runs", int, default=100_000, check=at_least(1)),
        timeout_seconds=sec.get("timeout_seconds", NUMBER, default=300, check=at_least(1)),
        rounds=sec.get("rounds", int, default=3, check=at_least(1)),
    )
    sec.finish()
    return spec

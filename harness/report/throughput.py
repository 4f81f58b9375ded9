"""MACs per second a candidate reached, against the machine's measured single-core peak:
near the peak its latency is compute-bound, far below it call overhead decides."""

from __future__ import annotations

from harness.report.formats import MISSING, fmt_si
from harness.store.results import CandidateRecord

__all__ = ["fmt_throughput", "macs_per_second"]


def macs_per_second(record: CandidateRecord) -> float | None:
    """MACs of one sample times the batch timed, divided by the p50 of that batch."""
    macs, p50 = record.metric("macs"), record.metric("latency_p50_ms")
    if not macs or not p50:
        return None
    batch = (record.details.get("latency") or {}).get("batch", 1)
    return float(macs) * float(batch) / (float(p50) / 1000)


def fmt_throughput(rate: float | None, peak: float | None) -> str:
    """'3.1 G (6%)': MACs/s and its share of the peak, when the machine's peak is known."""
    if rate is None:
        return MISSING
    return fmt_si(rate) + (f" ({rate / peak:.0%})" if peak else "")

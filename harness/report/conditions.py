"""How the machine behaved while a run measured latency, from its stored rounds (pure):
the round-to-round noise per runtime, the load average and CPU frequency around the
rounds, where the workers ran, and whether the machine was busy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.measure.cpus import was_busy
from harness.report.noise import pooled_by_runtime


def run_conditions(
    rounds: Mapping[str, Sequence[Mapping[str, Any]]], usable_cores: int
) -> dict[str, Any]:
    """Template values of the run page's "Measurement conditions" card, from key -> the
    candidate's rounds (each with its "runtime", "p50_ms" and "machine")."""
    runtime_of = {k: str(rs[0]["runtime"]) for k, rs in rounds.items() if rs}
    loads = [
        v
        for rs in rounds.values()
        for r in rs
        for v in (r["machine"].get("load1_before"), r["machine"].get("load1_after"))
        if v is not None
    ]
    mhz = [
        v
        for rs in rounds.values()
        for r in rs
        for v in (r["machine"].get("cpu_mhz_before"), r["machine"].get("cpu_mhz_after"))
        if v is not None
    ]
    rules = sorted({str(r["machine"].get("rule")) for rs in rounds.values() for r in rs})
    counts = sorted({len(rs) for rs in rounds.values()})
    noise = pooled_by_runtime(
        {k: [r["p50_ms"] for r in rs] for k, rs in rounds.items()}, runtime_of
    )
    busy_rounds = sum(
        was_busy(r["machine"].get("load1_before"), usable_cores)
        or was_busy(r["machine"].get("load1_after"), usable_cores)
        for rs in rounds.values()
        for r in rs
    )
    total = sum(len(rs) for rs in rounds.values())
    facts = [
        ("rounds per candidate", ", ".join(str(c) for c in counts) or "–"),
        ("load average (1 min)", f"{min(loads):.2f} – {max(loads):.2f}" if loads else "–"),
        ("CPU frequency", f"{min(mhz):,.0f} – {max(mhz):,.0f} MHz" if mhz else "–"),
        ("worker placement", "; ".join(rules) or "–"),
        *(
            (f"round-to-round noise, {rt}", f"±{n.percent:.1f}% (Z band; {n.dof} dof)")
            for rt, n in sorted(noise.items())
        ),
    ]
    return {
        "facts": facts if total else [],
        "busy": busy_rounds,
        "rounds": total,
        "max_load": max(loads) if loads else None,
        "cores": usable_cores,
    }

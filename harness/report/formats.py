"""The number formats every page, table and terminal listing shares (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

MISSING = "–"


def fmt_kb(n_bytes: float | None) -> str:
    return MISSING if n_bytes is None else f"{n_bytes / 1024:,.1f} KB"


def _sig3(value: float) -> str:
    """Three significant digits without exponent notation: 0.0123, 1.23, 123, 1,230."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.3g}")
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def fmt_sci(value: float | None) -> str:
    """Three significant digits, in exponent notation when tiny: 2.38e-06."""
    return MISSING if value is None else f"{value:.3g}"


def fmt_ms(ms: float | None) -> str:
    return MISSING if ms is None else f"{_sig3(ms)} ms"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{_sig3(seconds)} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def fmt_pct(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{fraction * 100:.1f}%"


def fmt_acc_ci(acc: float | None, low: float | None, high: float | None) -> str:
    """97.2% [95.6, 98.3]: the accuracy and its 95% interval."""
    if acc is None:
        return MISSING
    if low is None or high is None:
        return fmt_pct(acc)
    return f"{acc * 100:.1f}% [{low * 100:.1f}, {high * 100:.1f}]"


def fmt_int(n: float | None) -> str:
    return MISSING if n is None else f"{round(n):,}"


def fmt_si(n: float | None) -> str:
    """A count with k/M/G and three significant digits (MACs)."""
    if n is None:
        return MISSING
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= scale:
            return f"{_sig3(n / scale)}{suffix}"
    return fmt_int(n)


def fmt_delta_pt(delta: float | None) -> str:
    """An accuracy difference in percentage points, signed: +0.4 pt, −1.2 pt."""
    return MISSING if delta is None else f"{delta * 100:+.1f} pt".replace("-", "−")


def fmt_change(before: float | None, after: float | None) -> str:
    """A relative change, signed: +12.0%, −3.5%."""
    if before is None or after is None or before == 0:
        return MISSING
    return f"{(after / before - 1) * 100:+.1f}%".replace("-", "−")


def fmt_ratio(base: float | None, value: float | None, smaller: str, larger: str) -> str:
    """How value compares with base as a factor: '4.1× smaller' or '1.3× larger'."""
    if not base or not value:
        return MISSING
    if value <= base:
        return f"{base / value:.1f}× {smaller}"
    return f"{value / base:.1f}× {larger}"


def fmt_spec(spec: object) -> str:
    """A settings dict or list as short text: 'bits=8, pass=quantize'."""
    if isinstance(spec, Mapping):
        return ", ".join(f"{k}={fmt_spec(v)}" for k, v in sorted(spec.items())) or "none"
    if isinstance(spec, list | tuple):
        return "; ".join(fmt_spec(v) for v in spec) or "none"
    return str(spec)


def fmt_time(iso: str | None) -> str:
    """A stored ISO timestamp as '2026-01-01 09:30 UTC' (unchanged when it does not parse)."""
    if not iso:
        return MISSING
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def operator_rows(profile: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runtime's slowest operators (ExecuTorch's ETDump), formatted for the table."""
    return [
        {
            "op": str(row.get("op", "")),
            "backend": str(row.get("backend", "")),
            "mean": fmt_ms(row.get("mean_ms")),
            "share": fmt_pct(row.get("share")),
            "batch": row.get("batch"),
        }
        for row in profile
    ]


def status_counts(records: Any, ok: int) -> dict[str, int]:
    """Candidates in all, measured, failed, and unsupported by their runtime (not failures)."""
    unsupported = sum(r.status == "unsupported" for r in records)
    return {"total": len(records), "ok": ok, "unsupported": unsupported,
            "failed": len(records) - ok - unsupported}  # fmt: skip

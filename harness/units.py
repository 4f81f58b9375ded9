"""Sizes and durations as people write them ('64KB', '250us'), read into bytes and ms.

Pure and silent: a caller that gets None names its own flag or config key in the error.
"""

from __future__ import annotations

import re

SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2}
TIME_UNITS = {"": 1.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1000.0}
_NUMBER = r"^\s*(\d+(?:\.\d+)?)\s*([a-zµ]*)\s*$"


def size_bytes(text: str) -> float | None:
    """'64KB' -> 65536 (KB and KiB both mean 1024 bytes, as the report shows them)."""
    m = re.match(_NUMBER, text.lower())
    if not m or m.group(2) not in SIZE_UNITS:
        return None
    return float(m.group(1)) * SIZE_UNITS[m.group(2)]


def duration_ms(text: str) -> float | None:
    """'1ms' -> 1.0, '500us' -> 0.5, a bare number is milliseconds."""
    m = re.match(_NUMBER, text.lower())
    if not m or m.group(2) not in TIME_UNITS:
        return None
    return float(m.group(1)) * TIME_UNITS[m.group(2)]

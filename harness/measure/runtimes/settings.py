"""Validation shared by runtime settings: threads and on/off switches."""

from __future__ import annotations

from typing import Any

from harness.errors import ParamError
from harness.registry import nearest


def check_keys(params: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in; unknown keys rejected with the nearest allowed name."""
    for key in params:
        if key not in allowed:
            names = sorted(allowed)
            raise ParamError(
                key, f"unknown setting{nearest(key, names)}; allowed: {', '.join(names)}"
            )
    return {**allowed, **params}


def check_threads(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError("threads", f"must be an integer >= 1, got {value!r}")
    return value


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(key, f"must be true or false, got {value!r}")
    return value


def check_choice(key: str, value: Any, choices: list[str]) -> str:
    if value not in choices:
        raise ParamError(
            key,
            f"'{value}' is not allowed{nearest(str(value), choices)}; choose from: {', '.join(choices)}",
        )
    return str(value)

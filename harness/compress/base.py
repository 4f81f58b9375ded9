"""The contract every compression pass keeps, and the parameter reader they share.

A pass is a frozen dataclass of its settings: `from_params` validates a config table,
`spec` is what gets hashed and stored, `apply` maps one ONNX graph to another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import onnx

from harness.errors import ParamError
from harness.registry import nearest

__all__ = ["Params", "Pass", "PassContext", "PassResult", "percent"]


@dataclass(frozen=True)
class PassContext:
    """What a pass may know besides the model: calibration inputs (training split only)."""

    calibration: np.ndarray | None = None  # float32 inputs (N, ...) for static quantization
    input_name: str | None = None


@dataclass(frozen=True)
class PassResult:
    model: onnx.ModelProto
    notes: dict[str, Any]  # JSON-able: what was done per layer, what was skipped and why


class Pass(Protocol):
    """One compression step; implementations are frozen dataclasses of their settings."""

    name: ClassVar[str]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Pass: ...

    def spec(self) -> dict[str, Any]: ...

    def label(self) -> str: ...

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult: ...


_REQUIRED = object()


class Params:
    """Reads one pass's config table; every problem is a ParamError keyed by the param name.

    Unknown keys are rejected up front (with a did-you-mean), so a typo never silently
    falls back to a default.
    """

    def __init__(self, params: Mapping[str, Any], allowed: Sequence[str]) -> None:
        if not isinstance(params, Mapping):
            raise ParamError("", f"must be a table of parameters, got {params!r}")
        for key in params:
            if key not in allowed:
                listed = ", ".join(allowed) if allowed else "none"
                raise ParamError(
                    str(key),
                    f"unknown key{nearest(str(key), list(allowed))}; allowed keys: {listed}",
                )
        self.params = params

    def given(self, name: str) -> bool:
        return name in self.params

    def _value(self, name: str, default: Any, want: str) -> Any:
        if name not in self.params:
            if default is _REQUIRED:
                raise ParamError(name, f"is required: {want}")
            return default
        return self.params[name]

    def integer(self, name: str, lo: int, hi: int | None = None, default: Any = _REQUIRED) -> int:
        want = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        value = self._value(name, default, want)
        # bool is an int in Python, but `bits = true` is a mistake worth naming.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(name, f"must be {want}, got {value!r}")
        if value < lo or (hi is not None and value > hi):
            raise ParamError(name, f"must be {want}, got {value}")
        return value

    def number(
        self,
        name: str,
        lo: float,
        hi: float,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        default: Any = _REQUIRED,
    ) -> float:
        want = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        value = self._value(name, default, want)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(name, f"must be {want}, got {value!r}")
        low_ok = value > lo if lo_open else value >= lo
        high_ok = value < hi if hi_open else value <= hi
        if not (low_ok and high_ok) or value != value:  # NaN fails every comparison
            raise ParamError(name, f"must be {want}, got {value}")
        return float(value)

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        value = self._value(name, default, "true or false")
        if not isinstance(value, bool):
            raise ParamError(name, f"must be true or false, got {value!r}")
        return value

    def choice(self, name: str, choices: Sequence[str], default: Any = _REQUIRED) -> str:
        listed = ", ".join(choices)
        value = self._value(name, default, f"one of {listed}")
        if not isinstance(value, str) or value not in choices:
            hint = nearest(value, list(choices)) if isinstance(value, str) else ""
            raise ParamError(name, f"{value!r} is not allowed{hint}; choose from: {listed}")
        return value


def percent(fraction: float) -> str:
    """0.5 -> '50%', 0.125 -> '12.5%' (labels)."""
    return f"{fraction * 100:.4g}%"

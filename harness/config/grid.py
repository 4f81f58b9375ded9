"""Parameter sweeps written in a config: a list where one value is expected makes one
setting per value, and lists in several places make every combination.

    "int{bits}" = [{ pass = "quantize", bits = [2, 4, 8] }]   -> int2, int4, int8
    ra = { preset = "randaugment", n = 2, m = [5, 9] }         -> "ra m=5", "ra m=9"

A setting is named by filling each "{param}" of its name, or else by appending
"param=value" for each swept parameter. Pure: tables in, tables out.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GridError", "Swept", "expand", "find_sweeps"]


class GridError(ValueError):
    """A list that cannot be a sweep; `index` is the table, `key` the parameter."""

    def __init__(self, index: int, key: str, message: str) -> None:
        super().__init__(message)
        self.index, self.key, self.message = index, key, message


@dataclass(frozen=True)
class Swept:
    index: int  # which table of the sequence
    key: str
    values: tuple[Any, ...]


def find_sweeps(tables: Sequence[dict[str, Any]], lists: Collection[str] = ()) -> list[Swept]:
    """The swept parameters of `tables`, in order; keys in `lists` hold lists by nature (a
    policy's `ops`) and are never sweeps."""
    swept = []
    for i, table in enumerate(tables):
        for key, values in table.items():
            if key in lists or not isinstance(values, list):
                continue
            if not values or any(isinstance(v, list | dict) for v in values):
                raise GridError(i, key, f"a list sweeps values, e.g. [2, 4, 8]; got {values!r}")
            if len(set(map(repr, values))) != len(values):
                raise GridError(i, key, f"lists a value twice: {values!r}")
            swept.append(Swept(i, key, tuple(values)))
    return swept


def expand(
    name: str, tables: Sequence[dict[str, Any]], swept: Sequence[Swept]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(setting name, tables with one value per swept parameter)] for every combination;
    [(name, tables)] when nothing is swept."""
    if not swept:
        return [(name, list(tables))]
    out = []
    keys = [s.key for s in swept]
    templated = len(set(keys)) == len(keys) and all(f"{{{k}}}" in name for k in keys)
    for combo in itertools.product(*(s.values for s in swept)):
        concrete = [dict(table) for table in tables]
        for s, value in zip(swept, combo, strict=True):
            concrete[s.index][s.key] = value
        shown = [(s.key, show(v)) for s, v in zip(swept, combo, strict=True)]
        if templated:
            setting = name
            for key, text in shown:
                setting = setting.replace(f"{{{key}}}", text)
        else:
            setting = " ".join([name, *(f"{key}={text}" for key, text in shown)])
        out.append((setting, concrete))
    return out


def show(value: Any) -> str:
    """How a swept value reads in a setting's name: 4, 0.5, true, minmax."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)

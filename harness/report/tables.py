"""The site's sortable, filterable tables as data (pure): columns, cells and rows, and the
compact JSON table.js reads. What goes in them is decided in harness.report.data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

TABLE_PAGE_ROWS = 500


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False
    title: str = ""


class Cell(NamedTuple):  # a tuple: a big table has hundreds of thousands
    text: str
    value: float | str | None = None  # the sort key, when it is not the text
    href: str | None = None  # relative to the site root
    note: str | None = None  # a second, smaller line (a failure's reason)

    def compact(self, ref: Callable[[str], int]) -> int | list[object]:
        """The cell as table.js reads it from embedded JSON: ref(text), or
        [ref(text), value, href, ref(note)] without trailing nulls."""
        text = ref(self.text)  # strings are numbered in the order they are met
        if self.note is not None:
            return [text, self.value, self.href, ref(self.note)]
        if self.href is not None:
            return [text, self.value, self.href]
        return text if self.value is None else [text, self.value]


class Row(NamedTuple):
    cells: tuple[Cell, ...]
    kind: str = "ok"  # a CSS class: ok, failed, regressed


@dataclass(frozen=True)
class SelectFilter:
    label: str
    column: int
    options: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A sortable, filterable table; `inline` False embeds the rows as JSON for table.js."""

    id: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    filters: tuple[SelectFilter, ...] = ()
    inline: bool = True
    # Matching rows in the document at once; "Show more" adds as many again.
    page_size: int = field(default_factory=lambda: TABLE_PAGE_ROWS)

    def rows_json(self) -> dict[str, list[Any]]:
        """The rows for table.js: {"strings": [...], "rows": [[kind, cell, ...], ...]}, every
        text an index into strings (shown values repeat a lot; a 10,000-row table halves)."""
        strings: dict[str, int] = {}

        def ref(text: str) -> int:
            return strings.setdefault(text, len(strings))

        rows = [[ref(row.kind), *(c.compact(ref) for c in row.cells)] for row in self.rows]
        return {"strings": list(strings), "rows": rows}


def _num(value: float | None) -> float | int | None:
    """A sort key: finite, rounded, and an int when whole (shorter in JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


def _select(label: str, column: int, rows: Iterable[Row]) -> SelectFilter:
    return SelectFilter(label, column, tuple(sorted({r.cells[column].text for r in rows})))

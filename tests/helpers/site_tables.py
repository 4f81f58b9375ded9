"""Reading a rendered site's sortable table back: its column labels and, per row, each
cell's text and sort value (rows rendered inline, as a small run's are)."""

from __future__ import annotations

import html
import re


def _text(fragment: str) -> str:
    return html.unescape(
        re.sub(r"<div class=\"note\">.*?</div>|<[^>]+>", "", fragment, flags=re.S)
    ).strip()


def table_cells(page: str, table_id: str) -> tuple[list[str], list[list[tuple[str, float | None]]]]:
    """(column labels, rows of (text, data-value)) of the table `table_id` in `page`."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert found, f"no table {table_id}"
    head, body = found[0].split("<tbody>", 1)
    columns = [_text(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", tr, re.S)
        rows.append([
            (_text(inner), float(v[1]) if (v := re.search(r'data-value="([^"]*)"', attrs)) else None)
            for attrs, inner in cells
        ])  # fmt: skip
    return columns, rows

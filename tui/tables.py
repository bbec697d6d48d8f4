"""Filling the panel's tables: what a cell holds is shown as it is, in columns already wide enough.

Two things Textual's DataTable does that a panel refreshed every second trips over:

- It measures new rows only once it is idle, and a frame drawn before that is cached at the old
  widths (its caches are keyed by an update count, not by the widths) and kept until the table
  next changes. A table's first fill could stay cut at its headers' widths for good.
- It reads a string cell as Rich markup, so logged text with brackets in it (an error, a
  rationale) loses them, and a stray closing tag like ``[/x]`` raises while the panel draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

Cells = Sequence[str | Text]


def replace_rows(table: DataTable, rows: Iterable[tuple[Cells, str | None]]) -> None:
    """Clear ``table`` and add ``rows``, each ``(cells, key)``, widening its columns first."""
    table.clear()
    columns = table.ordered_columns
    for cells, key in rows:
        texts = [cell if isinstance(cell, Text) else Text(cell) for cell in cells]
        for column, text in zip(columns, texts, strict=False):
            column.content_width = max(column.content_width, text.cell_len)
        table.add_row(*texts, key=key)

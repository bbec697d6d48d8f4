"""Helpers for driving the panel: wait for a worker's result, read what a widget shows."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import DataTable, Static
from textual.widgets._key_panel import BindingsTable


def shown(app, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    return str(app.screen.query_one(selector, Static).render())


async def wait_for_text(pilot, selector: str, needle: str) -> str:
    """What the Static shows once it contains ``needle`` (its workers run in threads)."""
    for _ in range(100):
        text = shown(pilot.app, selector)
        if needle in text:
            return text
        await pilot.pause(0.05)
    raise AssertionError(f"{selector} never showed {needle!r}; it shows:\n{shown(pilot.app, selector)}")


async def wait_for_rows(pilot, selector: str, *, at_least: int = 1) -> DataTable:
    table = pilot.app.screen.query_one(selector, DataTable)
    for _ in range(100):
        if table.row_count >= at_least:
            return table
        await pilot.pause(0.05)
    raise AssertionError(f"{selector} never showed {at_least} rows")


def row_text(table: DataTable, row) -> list[str]:
    """The plain text of a row's cells, by key or by index."""
    cells = table.get_row_at(row) if isinstance(row, int) else table.get_row(row)
    return [str(cell) for cell in cells]


def help_text(app) -> str:
    """The key bindings the `?` panel lists, as plain text."""
    table = app.screen.query_one(BindingsTable).render_bindings_table()
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def visible(app, widget) -> bool:
    """The whole widget lies inside the terminal."""
    region, size = widget.region, app.size
    return (region.width > 0 and region.height > 0 and region.right <= size.width
            and region.bottom <= size.height)

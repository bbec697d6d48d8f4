"""tui/tables.py: a refreshed table shows its cells whole from its first frame, and verbatim."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tui.tables import replace_rows

pytestmark = pytest.mark.anyio

ROWS = [(("s-000232-1", "2024-01-10 16:00:00Z  sell ETH 14,779.37", Text("awaiting approval")),
         "s-000232-1"),
        (("s-000231-0", "2024-01-10 15:00:00Z  buy BTC 60,179.94", Text("filled")), "s-000231-0")]


class OneTable(App):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("decision", "summary", "outcome")


def _line(table: DataTable, y: int) -> str:
    return table.render_line(y).text


async def test_a_frame_drawn_before_the_table_is_idle_shows_whole_cells():
    """DataTable sizes columns to new rows when idle and caches frames drawn before at the
    headers' widths; the first fill used to stay cut ("s-000232  2024-01  awaitin") for good."""
    async with OneTable().run_test(size=(100, 10)) as pilot:
        table = pilot.app.query_one(DataTable)
        replace_rows(table, ROWS)
        first = _line(table, 1)  # drawn at once, before the table's idle measuring
        await pilot.pause()
        for cell in ("s-000232-1", "sell ETH 14,779.37", "awaiting approval"):
            assert cell in first
        later = _line(table, 1)
        assert "s-000232-1" in later and "awaiting approval" in later


async def test_cells_are_shown_as_they_are_not_as_markup():
    """A logged error with brackets keeps them; a stray closing tag does not break the draw."""
    error = "RPC said [/x] and [red]no[/red]"
    async with OneTable().run_test(size=(100, 10)) as pilot:
        table = pilot.app.query_one(DataTable)
        replace_rows(table, [(("executor", error, "down"), "executor")])
        await pilot.pause()
        assert error in _line(table, 1)


async def test_refilling_keeps_the_rows_given_and_their_keys():
    async with OneTable().run_test(size=(100, 10)) as pilot:
        table = pilot.app.query_one(DataTable)
        replace_rows(table, ROWS)
        replace_rows(table, ROWS[1:])
        await pilot.pause()
        assert table.row_count == 1
        assert table.get_row_index("s-000231-0") == 0
        assert "buy BTC 60,179.94" in _line(table, 1)

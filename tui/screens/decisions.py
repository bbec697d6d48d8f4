"""Decisions: the log, newest first, filterable, with the whole trace of the selected decision
and the audit status (chain verified, head hash)."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.store import AuditStatus, DecisionRow
from tui.styles import outcome_text
from tui.tables import replace_rows

REFRESH_S = 1.0


class DecisionsScreen(Screen):
    CSS_PATH = "decisions.tcss"
    BINDINGS: ClassVar[list] = [
        ("slash", "focus_filter", "Filter"), ("escape", "focus_table", "Back to the list"),
        ("v", "verify", "Verify log"),
    ]

    _shown: list[DecisionRow] | None = None  # the rows the table shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: id, asset, strategy, rule, outcome…", id="filter")
        yield DataTable(id="decisions", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="trace-box"):
            yield Static("select a decision to see its trace", markup=False, id="trace")
        yield Static("audit: not checked yet", markup=False, id="audit")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#decisions", DataTable)
        table.add_columns("decision", "summary", "outcome")
        table.focus()  # arrows move through decisions; `/` jumps to the filter
        self.refresh_rows()
        self.action_verify()
        self.set_interval(REFRESH_S, self.refresh_rows)

    def refresh_rows(self) -> None:
        self._load(self.query_one("#filter", Input).value)

    @work(thread=True, exclusive=True, group="decisions")
    def _load(self, needle: str) -> None:
        rows = self.app.store.decisions(needle=needle)
        self.app.call_from_thread(self._show_rows, rows)

    def _show_rows(self, rows: list[DecisionRow]) -> None:
        if rows == self._shown:
            return  # nothing new: no redraw, no cursor jump
        self._shown = rows
        table = self.query_one("#decisions", DataTable)
        selected = self._selected_id()
        replace_rows(table, (((row.decision_id, row.summary.removeprefix(row.decision_id).strip(),
                               outcome_text(row.outcome)), row.decision_id) for row in rows))
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))

    def _selected_id(self) -> str | None:
        table = self.query_one("#decisions", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.refresh_rows()

    @on(DataTable.RowHighlighted, "#decisions")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._load_trace(event.row_key.value)

    @work(thread=True, exclusive=True, group="trace")
    def _load_trace(self, decision_id: str) -> None:
        lines = self.app.store.trace(decision_id)
        self.app.call_from_thread(self.query_one("#trace", Static).update, "\n".join(lines))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#decisions", DataTable).focus()

    @work(thread=True, exclusive=True, group="audit")
    def action_verify(self) -> None:
        status = self.app.store.audit()
        self.app.call_from_thread(self._show_audit, status)

    def _show_audit(self, status: AuditStatus) -> None:
        if status.ok:
            text = f"audit: OK, chain verified, {status.count} entries, head {status.head[:16]}…"
        else:
            text = f"audit: BROKEN: {status.problem}"
        audit = self.query_one("#audit", Static)
        audit.update(text)
        audit.set_class(not status.ok, "broken")

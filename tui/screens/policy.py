"""Policy: the effective tiers and limits of the policy in force, and the rules that fired most
today (from the decision log)."""

from __future__ import annotations

from datetime import datetime, time

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.cli_policy import describe
from tui.tables import replace_rows

REFRESH_S = 1.0


class PolicyScreen(Screen):
    CSS_PATH = "policy.tcss"

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with VerticalScroll(id="limits-box"):
                yield Static(markup=False, id="limits")
            yield DataTable(id="fired", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#limits", Static).update("\n".join(describe(self.app.policy)))
        self.query_one("#fired", DataTable).add_columns("rule fired today", "effect", "times")
        self.refresh_rows()
        self.set_interval(REFRESH_S, self.refresh_rows)

    @work(thread=True, exclusive=True, group="policy")
    def refresh_rows(self) -> None:
        store = self.app.store
        midnight = datetime.combine(store.now().date(), time(), tzinfo=store.now().tzinfo)
        rows = store.rules_fired(since=midnight)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[tuple[str, str, int]]) -> None:
        table = self.query_one("#fired", DataTable)
        replace_rows(table, (((rule, effect, str(count)), None) for rule, effect, count in rows))

"""Agents: each agent's health (last heartbeat, restarts, last error, call latency) and what it
did or proposed last, with the last proposal of every strategy and what became of it.

With a system attached (``quorum tui --address``) the running actors are asked for their
health in a worker thread every refresh; without one, the decision log's trail stands in (the
time of an agent's latest entry for a heartbeat), and restarts and latency are n/a."""

from __future__ import annotations

from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from tui.agents_view import AgentRow, StrategyProposal, merge
from tui.styles import outcome_text
from tui.tables import replace_rows

REFRESH_S = 1.0


def _when(moment: datetime | None) -> str:
    return "n/a" if moment is None else f"{moment:%m-%d %H:%M:%S}"


def _cells(row: AgentRow) -> tuple[str, ...]:
    return (
        row.agent, row.status, _when(row.heartbeat),
        "n/a" if row.restarts is None else str(row.restarts),
        "n/a" if row.latency_ms is None else f"{row.latency_ms:.1f} ms",
        row.last_error or "none",
        row.last,
        row.health or "n/a",
    )


class AgentsScreen(Screen):
    CSS_PATH = "agents.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._round: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup=False, id="source")
        yield DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        yield Static("last proposal of each strategy", markup=False, id="proposals-label")
        yield DataTable(id="proposals", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#agents", DataTable).add_columns(
            "agent", "status", "last seen", "restarts", "latency", "last error", "last (log)",
            "health")
        self.query_one("#proposals", DataTable).add_columns(
            "strategy", "decision", "proposed", "outcome", "at")
        link = self.app.agents
        self.query_one("#source", Static).update(
            f"live: asking the running agents on {link.address} every {REFRESH_S:g} s"
            if link is not None else
            "no system attached (quorum tui --address HOST:PORT attaches to one): the decision "
            "log's trail; restarts and latency n/a")
        self.query_one("#agents", DataTable).focus()
        self.refresh_rows()
        self.set_interval(REFRESH_S, self.refresh_rows)

    def refresh_rows(self) -> None:
        """Ask again, unless the last round is still waiting for a slow actor."""
        if self._round is None or self._round.is_finished:
            self._round = self._load()

    @work(thread=True, group="agents")
    def _load(self) -> None:
        rows, proposals = self.app.store.agent_trail()
        link = self.app.agents
        if link is not None:
            rows = merge(rows, link.probe())
        self.app.call_from_thread(self._show, rows, proposals)

    def _show(self, rows: list[AgentRow], proposals: list[StrategyProposal]) -> None:
        table = self.query_one("#agents", DataTable)
        cursor = table.cursor_row
        replace_rows(table, ((_cells(row), row.agent) for row in rows))
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        strategies = self.query_one("#proposals", DataTable)
        replace_rows(strategies, (((p.strategy, p.decision_id, p.proposal, outcome_text(p.outcome),
                                   _when(p.at)), p.strategy) for p in proposals))

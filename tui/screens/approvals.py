"""Approvals: pending requests with a live countdown and quorum progress, the selected request's
whole decision trace, and approve / reject behind a confirmation. It goes through the same queue
API and approver check as the CLI; a user off the [approvals] tui allowlist sees, never decides."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.errors import ApprovalError
from core.models import ApprovalRequest
from tui.screens.confirm import Confirm
from tui.tables import replace_rows

REFRESH_S = 1.0


def _countdown(request: ApprovalRequest, now) -> str:
    left = int((request.expires_at - now).total_seconds())
    if left <= 0:
        return "expired"
    return f"{left // 60:d}:{left % 60:02d}"


def _order_text(request: ApprovalRequest) -> str:
    order = request.order
    return f"{order.side.value} {order.asset} {order.notional_usd:,.2f}"


class ApprovalsScreen(Screen):
    CSS_PATH = "approvals.tcss"
    BINDINGS: ClassVar[list] = [("a", "decide(True)", "Approve"), ("r", "decide(False)", "Reject")]

    def __init__(self) -> None:
        super().__init__()
        self.requests: dict[str, ApprovalRequest] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup=False, id="who")
        yield DataTable(id="pending", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail-box"):
            yield Static("no request selected", markup=False, id="detail")
        yield Footer()

    def on_mount(self) -> None:
        store = self.app.store
        who = self.query_one("#who", Static)
        if store.read_only:
            who.update(f"read-only: {store.approver} is not on the [approvals] tui allowlist")
            who.add_class("read-only")
        else:
            who.update(f"deciding as {store.approver}")
        self.query_one("#pending", DataTable).add_columns(
            "request", "order", "tier", "approvals", "expires in", "status")
        self.refresh_rows()
        self.set_interval(REFRESH_S, self.refresh_rows)

    @work(thread=True, exclusive=True, group="approvals")
    def refresh_rows(self) -> None:
        store = self.app.store
        store.expire_due()  # expiry means reject, whoever looks first
        requests = store.pending()
        self.app.call_from_thread(self._show_rows, requests, store.now())

    def _show_rows(self, requests: list[ApprovalRequest], now) -> None:
        table = self.query_one("#pending", DataTable)
        selected = self.selected()
        self.requests = {r.request_id: r for r in requests}
        replace_rows(table, (((r.request_id, _order_text(r), r.tier.value,
                               f"{len(r.approvals)}/{r.required_approvals}", _countdown(r, now),
                               r.status.value), r.request_id) for r in requests))
        if selected is not None and selected.request_id in table.rows:
            table.move_cursor(row=table.get_row_index(selected.request_id))
        if not requests:
            self.query_one("#detail", Static).update("nothing is waiting for a person")

    def selected(self) -> ApprovalRequest | None:
        table = self.query_one("#pending", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.requests.get(key)

    @on(DataTable.RowHighlighted, "#pending")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        request = self.requests.get(event.row_key.value)
        if request is not None:
            self._load_detail(request)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, request: ApprovalRequest) -> None:
        head = (f"{request.request_id}: {_order_text(request)}, tier {request.tier.value}, "
                f"payload {request.payload_hash[:16]}…")
        lines = [head, ""]
        lines += self.app.store.trace(request.decision_id)
        self.app.call_from_thread(self.query_one("#detail", Static).update, "\n".join(lines))

    def action_decide(self, approve: bool) -> None:
        request = self.selected()
        if request is None:
            self.notify("no request selected", severity="warning")
            return
        if self.app.store.read_only:
            self.notify(f"read-only: {self.app.store.approver} may not decide", severity="error",
                        markup=False)
            return
        verb = "Approve" if approve else "Reject"
        question = f"{verb} {request.request_id}: {_order_text(request)} ({request.tier.value})?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._decide(request, approve)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="decide")
    def _decide(self, request: ApprovalRequest, approve: bool) -> None:
        store = self.app.store
        try:
            if approve:
                result = store.approve(request)
            else:
                result = store.reject(request, reason="rejected from the control panel")
        except ApprovalError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=8,
                                       markup=False)
        else:
            self.app.call_from_thread(
                self.notify, f"{result.request_id}: {result.status.value} "
                f"({len(result.approvals)}/{result.required_approvals})", markup=False)
        self.app.call_from_thread(self.refresh_rows)

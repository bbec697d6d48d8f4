"""What the control panel reads and writes, over the database every channel shares.

The panel never talks to the agents for decisions or approvals: the decision log and the approval
queue are the truth, and the same queue API (with its approver check) serves the CLI, the panel
and Telegram. Every call here is short and synchronous; screens run them in worker threads.
"""

from __future__ import annotations

import getpass
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from core.decision_trace import outcome, summary_line, trace_lines
from core.errors import ApprovalError, AuditError
from core.models import ApprovalRequest, ApprovalStatus, DecisionLogEntry, Stage
from state.approvals import ApprovalQueue
from state.approvers import ApprovalsConfig, Approver, Channel
from state.decision_log import latest_decision_ids, read_entries, verify
from state.kill_switch import KillSwitchBoard, SwitchCommand
from state.tables import utc_now
from tui.agents_view import AgentRow, StrategyProposal, last_proposals, rows_from_log
from tui.portfolio import DashboardView, dashboard_view

_POLICY_STAGES = frozenset({Stage.POLICY_ALLOWED, Stage.POLICY_DENIED})


@dataclass(frozen=True)
class DecisionRow:
    decision_id: str
    summary: str
    outcome: str


@dataclass(frozen=True)
class AuditStatus:
    ok: bool
    count: int
    head: str | None
    problem: str | None


class PanelStore:
    """The panel's window on one database, acting as one approver identity (or read-only)."""

    def __init__(
        self, engine: Engine, *, approvers: ApprovalsConfig | None = None,
        identity: str | None = None, clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.clock = clock
        """What "now" is for countdowns and "today" (tests freeze it)."""
        approvers = approvers or ApprovalsConfig()
        self.queue = ApprovalQueue(engine, approvers=approvers, clock=clock)
        self.approver = Approver(Channel.TUI, identity or getpass.getuser())
        self.read_only = approvers.person(self.approver) is None
        """Not on the [approvals] tui allowlist: the panel shows, and refuses to decide."""
        self.kill_switch = KillSwitchBoard(engine)

    def decisions(self, *, limit: int = 200, needle: str = "") -> list[DecisionRow]:
        """The latest decisions, newest first; ``needle`` filters on id, summary and outcome."""
        rows = []
        for decision_id in latest_decision_ids(self.engine, limit=limit):
            try:
                entries = read_entries(self.engine, decision_id)
            except AuditError as exc:  # a row that does not read back: shown, never a crash
                row = DecisionRow(decision_id, f"{decision_id}  {exc}", "unreadable")
            else:
                row = DecisionRow(decision_id, summary_line(entries), outcome(entries))
            if needle.lower() in f"{row.summary} {row.outcome}".lower():
                rows.append(row)
        return rows

    def trace(self, decision_id: str) -> list[str]:
        try:
            entries = read_entries(self.engine, decision_id)
        except AuditError as exc:
            return [f"decision {decision_id}: {exc}"]
        if not entries:  # the run has not flushed this decision's entries yet
            return [f"decision {decision_id}: nothing in the decision log yet"]
        return trace_lines(entries)

    def audit(self) -> AuditStatus:
        result = verify(self.engine)
        return AuditStatus(result.ok, result.count, result.head_hash, result.problem)

    def rules_fired(self, *, since: datetime) -> list[tuple[str, str, int]]:
        """(rule, effect, count) of policy firings logged since ``since``, most frequent first."""
        counts: Counter[tuple[str, str]] = Counter()
        for entry in self._readable_entries():
            if entry.stage in _POLICY_STAGES and entry.logged_at >= since:
                for firing in entry.payload.get("fired", ()):
                    counts[(firing["rule"], firing["effect"])] += 1
        return [(rule, effect, n) for (rule, effect), n in counts.most_common()]

    def pending(self) -> list[ApprovalRequest]:
        return self.queue.list(ApprovalStatus.PENDING)

    def approve(self, request: ApprovalRequest) -> ApprovalRequest:
        """Approve exactly the order the person saw: refused if its payload changed since."""
        return self.queue.approve(request.request_id, approver=self.approver,
                                  expected_payload_hash=request.payload_hash)

    def reject(self, request: ApprovalRequest, reason: str) -> ApprovalRequest:
        return self.queue.reject(request.request_id, approver=self.approver, reason=reason)

    def expire_due(self) -> list[ApprovalRequest]:
        return self.queue.expire_due()

    def switch_state(self) -> SwitchCommand | None:
        return self.kill_switch.latest()

    def engage(self, reason: str) -> SwitchCommand:
        """Anyone at the panel may stop everything: stopping is always safe."""
        return self.kill_switch.engage(by=str(self.approver), reason=reason)

    def resume(self, reason: str) -> SwitchCommand:
        if self.read_only:
            raise ApprovalError(f"{self.approver} may not resume (not on the [approvals] tui "
                                "allowlist)")
        return self.kill_switch.resume(by=str(self.approver), reason=reason)

    def dashboard(self) -> DashboardView:
        """Equity, portfolio, market mood and stated targets, as the decision log holds them."""
        return dashboard_view(self._readable_entries())

    def agent_trail(self) -> tuple[list[AgentRow], list[StrategyProposal]]:
        """Each agent's latest trace in the log, and each strategy's last proposal."""
        entries = self._readable_entries()
        return rows_from_log(entries), last_proposals(entries)

    def _readable_entries(self) -> list[DecisionLogEntry]:
        """The whole log; none if a row does not read back (the Decisions screen says which)."""
        try:
            return read_entries(self.engine)
        except AuditError:
            return []

    def now(self) -> datetime:
        return self.clock()

"""The human gate: where decisions above the auto tier wait for people.

QueueGate is the real one: the persisted approval queue that the CLI (and later the TUI and
Telegram) decide on, each person checked against the ``[approvals]`` allowlists. The gate itself
never approves: it only asks, watches, and cancels (rejects) what a run leaves undecided.
SimulatedGate stands in for people in backtests only, and every decision it makes is labelled as
simulated in the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from core.canonical import sha256_hex
from core.errors import ApprovalError
from core.models import ApprovalRequest, ApprovalStatus, Order, Tier
from state.approvals import ApprovalQueue

SIMULATED_APPROVER = "backtest:simulated"
RUN_ENDED = "quorum:run-ended"


class HumanGate(Protocol):
    simulated: bool

    def request(
        self, order: Order, *, tier: Tier, required_approvals: int, expiry_s: float
    ) -> ApprovalRequest: ...

    def poll(self, request_ids: Iterable[str]) -> list[ApprovalRequest]:
        """Requests among ``request_ids`` that are no longer pending (expired ones included)."""
        ...

    def cancel(self, request_ids: Iterable[str], *, reason: str) -> list[ApprovalRequest]:
        """Reject the requests still pending (the run that would execute them is ending)."""
        ...


class QueueGate:
    simulated = False

    def __init__(self, queue: ApprovalQueue) -> None:
        self.queue = queue

    def request(
        self, order: Order, *, tier: Tier, required_approvals: int, expiry_s: float
    ) -> ApprovalRequest:
        return self.queue.request(
            order, tier=tier, required_approvals=required_approvals, expiry_s=expiry_s
        )

    def poll(self, request_ids: Iterable[str]) -> list[ApprovalRequest]:
        ids = list(request_ids)
        if not ids:
            return []
        self.queue.expire_due()
        return [r for r in self.queue.get_many(ids).values() if r.status is not ApprovalStatus.PENDING]

    def cancel(self, request_ids: Iterable[str], *, reason: str) -> list[ApprovalRequest]:
        cancelled = []
        self.queue.expire_due()
        for request in self.queue.get_many(list(request_ids)).values():
            if request.status is ApprovalStatus.PENDING:
                try:
                    request = self.queue.cancel(request.request_id, by=RUN_ENDED, reason=reason)
                except ApprovalError:
                    request = self.queue.get(request.request_id)  # decided meanwhile
            cancelled.append(request)
        return cancelled


class SimulatedGate:
    """Backtests only: decides every request at once, the same way, labelled as simulated."""

    simulated = True

    def __init__(self, *, approve: bool) -> None:
        self.approve = approve
        self.decided: dict[str, ApprovalRequest] = {}

    def request(
        self, order: Order, *, tier: Tier, required_approvals: int, expiry_s: float
    ) -> ApprovalRequest:
        now = order.created_at
        request = ApprovalRequest(
            request_id=f"sim-{uuid.uuid4().hex[:12]}",
            decision_id=order.decision_id,
            tier=tier,
            order=order,
            payload_hash=sha256_hex(order),
            required_approvals=required_approvals,
            approvals=(SIMULATED_APPROVER,) * required_approvals if self.approve else (),
            status=ApprovalStatus.APPROVED if self.approve else ApprovalStatus.REJECTED,
            created_at=now,
            expires_at=now + timedelta(seconds=expiry_s),
            nonce=uuid.uuid4().hex[:16],
            decided_at=datetime.now(UTC),
            decided_by=SIMULATED_APPROVER,
            reason="simulated by the backtest",
        )
        self.decided[request.request_id] = request
        return request

    def poll(self, request_ids: Iterable[str]) -> list[ApprovalRequest]:
        return [self.decided.pop(i) for i in list(request_ids) if i in self.decided]

    def cancel(self, request_ids: Iterable[str], *, reason: str) -> list[ApprovalRequest]:
        return self.poll(request_ids)

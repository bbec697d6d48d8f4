"""The approval queue: people approve one exact order, once, before it expires.

Requests live in the database so the CLI, the TUI, Telegram and the running system share them.
Every status change is a conditional UPDATE (``… WHERE status = 'pending'``), so two processes
can never both decide one request. Expiry means reject. Every person's decision passes one check,
here, whatever the channel: the approver's identity must be on that channel's allowlist
(``[approvals]``); anyone else is refused, and the refusal is logged and kept in the database.
Only Quorum itself (``quorum:…``) may decide without a person, and only to reject. This module
never executes anything.
"""

from __future__ import annotations

import builtins
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from core.canonical import canonical_bytes, sha256_hex
from core.errors import ApprovalError
from core.logging import get_logger
from core.models import ApprovalRequest, ApprovalStatus, Order, Tier
from state.approvers import ApprovalsConfig, Approver, shown_identity
from state.tables import ApprovalRefusalRow, ApprovalRow, as_utc, utc_now

_TABLE = ApprovalRow.__table__
_COLUMNS = _TABLE.c
_REFUSALS = ApprovalRefusalRow.__table__
_PENDING = ApprovalStatus.PENDING.value
_MAX_RACES = 5
SYSTEM_PREFIX = "quorum:"
"""Quorum's own actors (``quorum:expiry``, ``quorum:run-ended``); no person's name has a colon."""
EXPIRY = "quorum:expiry"

log = get_logger("quorum.approvals")

Action = Literal["approve", "reject"]


@dataclass(frozen=True, slots=True)
class ApprovalRefusal:
    """A refused attempt to decide a request, as recorded."""

    request_id: str
    action: Action
    channel: str
    identity: str
    reason: str
    refused_at: datetime

    def __str__(self) -> str:
        return f"refused: {self.identity!r} via {self.channel} ({self.action})"


class ApprovalQueue:
    """Creates, lists and decides approval requests stored in the database.

    ``approvers`` is the ``[approvals]`` allowlist every approve and reject is checked against;
    left out, the defaults (cli and tui: the OS user only; telegram: nobody).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        approvers: ApprovalsConfig | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._approvers = approvers if approvers is not None else ApprovalsConfig()
        self._clock = clock

    def request(
        self, order: Order, *, tier: Tier, required_approvals: int = 1, expiry_s: float = 900
    ) -> ApprovalRequest:
        """Persist a pending request for ``order``; one request per decision."""
        if tier is Tier.DENY:
            raise ApprovalError(f"decision {order.decision_id}: a denied order cannot be approved")
        if required_approvals < 1:
            raise ApprovalError(f"required_approvals is {required_approvals}, must be at least 1")
        if not expiry_s > 0:
            raise ApprovalError(f"expiry_s is {expiry_s}, must be positive")
        now = self._now()
        row = {
            "request_id": f"a-{uuid.uuid4().hex[:12]}",
            "decision_id": order.decision_id,
            "tier": Tier(tier).value,
            "order_json": canonical_bytes(order).decode("utf-8"),
            "payload_hash": sha256_hex(order),
            "required_approvals": required_approvals,
            "approvals_json": "[]",
            "status": _PENDING,
            "created_at": now,
            "expires_at": now + timedelta(seconds=expiry_s),
            "nonce": secrets.token_hex(8),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(_TABLE.insert(), row)
        except IntegrityError:
            raise ApprovalError(
                f"decision {order.decision_id} already has an approval request"
            ) from None
        return self.get(row["request_id"])

    def get(self, request_id: str) -> ApprovalRequest:
        """The request with this id; ApprovalError if there is none."""
        return _to_model(self._row(request_id))

    def get_many(self, request_ids: Iterable[str]) -> dict[str, ApprovalRequest]:
        """The requests with these ids, by id; ids that do not exist are left out."""
        ids = builtins.list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(select(_TABLE).where(_COLUMNS.request_id.in_(ids))).all()
        return {row.request_id: _to_model(row) for row in rows}

    def list(self, status: ApprovalStatus | None = None) -> builtins.list[ApprovalRequest]:
        """Requests, newest first; only those with ``status`` if given."""
        stmt = select(_TABLE).order_by(_COLUMNS.created_at.desc(), _COLUMNS.request_id.desc())
        if status is not None:
            stmt = stmt.where(_COLUMNS.status == ApprovalStatus(status).value)
        with self._engine.connect() as conn:
            return [_to_model(row) for row in conn.execute(stmt)]

    def approve(
        self, request_id: str, *, approver: Approver, expected_payload_hash: str | None = None
    ) -> ApprovalRequest:
        """Record ``approver``'s approval; the request is APPROVED once enough people approved."""
        person = self.authorize(request_id, approver, action="approve")
        for _ in range(_MAX_RACES):
            row = self._row(request_id)
            self._refuse_unless_open(row)
            _refuse_changed_payload(row, expected_payload_hash)
            approvals = json.loads(row.approvals_json)
            if person in approvals:
                raise ApprovalError(f"request {request_id}: {person} has already approved it")
            approvals.append(person)
            values: dict[str, Any] = {"approvals_json": json.dumps(approvals)}
            if len(approvals) >= row.required_approvals:
                values |= {
                    "status": ApprovalStatus.APPROVED.value,
                    "decided_at": self._now(),
                    "decided_by": person,
                }
            # Only if nobody changed the request since we read it; otherwise read it again.
            if self._update_if_unchanged(row, values):
                return self.get(request_id)
        raise ApprovalError(f"request {request_id}: changed {_MAX_RACES} times while approving")

    def reject(self, request_id: str, *, approver: Approver, reason: str = "") -> ApprovalRequest:
        """Reject the request for ``approver``; refused if it is already decided."""
        person = self.authorize(request_id, approver, action="reject")
        return self._reject(request_id, by=person, reason=reason)

    def cancel(self, request_id: str, *, by: str, reason: str) -> ApprovalRequest:
        """Quorum itself rejects a pending request (``by`` is a ``quorum:…`` actor, never a person)."""
        if not by.startswith(SYSTEM_PREFIX):
            raise ApprovalError(
                f"request {request_id}: cancel is for Quorum's own actors ({SYSTEM_PREFIX}…), "
                f"not {by!r}; people reject"
            )
        return self._reject(request_id, by=by, reason=reason)

    def authorize(self, request_id: str, approver: Approver, *, action: Action) -> str:
        """The person ``approver`` is; refused, recorded and logged if no allowlist admits it.

        The one check behind every approve and reject, whatever the channel.
        """
        if not isinstance(approver, Approver):
            raise ApprovalError(
                f"request {request_id}: the approver must be an Approver(channel, identity), "
                f"not {type(approver).__name__}"
            )
        person = self._approvers.person(approver)
        if person is not None:
            return person
        reason = f"not on the [approvals] {approver.channel.value} allowlist"
        refusal = {
            "request_id": request_id[:200],
            "action": action,
            "channel": approver.channel.value,
            "identity": shown_identity(approver.identity),
            "reason": reason,
            "refused_at": self._now(),
        }
        with self._engine.begin() as conn:
            conn.execute(_REFUSALS.insert(), refusal)
        log.warning("approvals.refused", **{k: v for k, v in refusal.items() if k != "refused_at"})
        raise ApprovalError(
            f"request {request_id}: {approver} may not {action} ({reason}); "
            "the attempt was recorded"
        )

    def refusals(
        self, request_ids: Iterable[str] | None = None
    ) -> builtins.list[ApprovalRefusal]:
        """Refused attempts, newest first; only those on ``request_ids`` if given."""
        stmt = select(_REFUSALS).order_by(
            _REFUSALS.c.refused_at.desc(), _REFUSALS.c.refusal_id.desc()
        )
        if request_ids is not None:
            stmt = stmt.where(_REFUSALS.c.request_id.in_(builtins.list(request_ids)))
        with self._engine.connect() as conn:
            return [
                ApprovalRefusal(
                    request_id=row.request_id, action=row.action, channel=row.channel,
                    identity=row.identity, reason=row.reason, refused_at=row.refused_at,
                )
                for row in conn.execute(stmt)
            ]

    def _reject(self, request_id: str, *, by: str, reason: str) -> ApprovalRequest:
        row = self._row(request_id)
        if row.status != _PENDING:
            raise ApprovalError(f"request {request_id} is already {row.status}")
        values = {
            "status": ApprovalStatus.REJECTED.value,
            "decided_at": self._now(),
            "decided_by": by,
            "reason": reason,
        }
        if not self._update_if_pending(request_id, values):
            raise ApprovalError(f"request {request_id} is already {self._row(request_id).status}")
        return self.get(request_id)

    def expire_due(self) -> builtins.list[ApprovalRequest]:
        """Mark every pending request past its expiry EXPIRED and return those."""
        now = self._now()
        due = select(_COLUMNS.request_id).where(
            _COLUMNS.status == _PENDING, _COLUMNS.expires_at <= now
        )
        with self._engine.connect() as conn:
            ids = conn.execute(due).scalars().all()
        expired = [rid for rid in ids if self._update_if_pending(rid, _expired_values(now))]
        return builtins.list(self.get_many(expired).values())

    def _refuse_unless_open(self, row: Any) -> None:
        if row.status != _PENDING:
            raise ApprovalError(f"request {row.request_id} is already {row.status}")
        now = self._now()
        if now >= row.expires_at:
            self._update_if_pending(row.request_id, _expired_values(now))
            raise ApprovalError(
                f"request {row.request_id} expired at {row.expires_at.isoformat()}; "
                "expiry means reject"
            )

    def _row(self, request_id: str) -> Any:
        with self._engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_COLUMNS.request_id == request_id)).first()
        if row is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        return row

    def _update_if_pending(self, request_id: str, values: dict[str, Any]) -> bool:
        stmt = (
            update(_TABLE)
            .where(_COLUMNS.request_id == request_id, _COLUMNS.status == _PENDING)
            .values(**values)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def _update_if_unchanged(self, row: Any, values: dict[str, Any]) -> bool:
        stmt = (
            update(_TABLE)
            .where(
                _COLUMNS.request_id == row.request_id,
                _COLUMNS.status == _PENDING,
                _COLUMNS.approvals_json == row.approvals_json,
                _COLUMNS.order_json == row.order_json,
                _COLUMNS.payload_hash == row.payload_hash,
            )
            .values(**values)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def _now(self) -> datetime:
        return as_utc(self._clock())


def _expired_values(now: datetime) -> dict[str, Any]:
    return {
        "status": ApprovalStatus.EXPIRED.value,
        "decided_at": now,
        "decided_by": EXPIRY,
        "reason": "expired before enough approvals",
    }


def _refuse_changed_payload(row: Any, expected_payload_hash: str | None) -> None:
    try:
        stored_hash = sha256_hex(json.loads(row.order_json))
    except (TypeError, ValueError):
        stored_hash = None
    if stored_hash != row.payload_hash:
        raise ApprovalError(
            f"request {row.request_id}: the stored order no longer matches its payload hash"
        )
    if expected_payload_hash is not None and expected_payload_hash != row.payload_hash:
        raise ApprovalError(
            f"request {row.request_id}: payload hash {row.payload_hash[:16]}… is not the "
            f"{expected_payload_hash[:16]}… that was reviewed"
        )


def _to_model(row: Any) -> ApprovalRequest:
    try:
        order = Order.model_validate_json(row.order_json)
        approvals = tuple(json.loads(row.approvals_json))
    except ValueError as exc:
        raise ApprovalError(f"request {row.request_id}: stored data is unreadable: {exc}") from None
    return ApprovalRequest(
        request_id=row.request_id,
        decision_id=row.decision_id,
        tier=Tier(row.tier),
        order=order,
        payload_hash=row.payload_hash,
        required_approvals=row.required_approvals,
        approvals=approvals,
        status=ApprovalStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        nonce=row.nonce,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
    )

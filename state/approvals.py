"""The approval queue: people approve one exact order, once, before it expires.

Requests live in the database so the CLI, the TUI, Telegram and the running system share them.
Every status change is a conditional UPDATE (``… WHERE status = 'pending'``), so two processes
can never both decide one request. Expiry means reject. This module never executes anything.
"""

from __future__ import annotations

import builtins
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from core.canonical import canonical_bytes, sha256_hex
from core.errors import ApprovalError
from core.models import ApprovalRequest, ApprovalStatus, Order, Tier
from state.tables import ApprovalRow, as_utc, utc_now

_TABLE = ApprovalRow.__table__
_COLUMNS = _TABLE.c
_PENDING = ApprovalStatus.PENDING.value
_MAX_RACES = 5


class ApprovalQueue:
    """Creates, lists and decides approval requests stored in the database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
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
        self, request_id: str, *, approver: str, expected_payload_hash: str | None = None
    ) -> ApprovalRequest:
        """Record ``approver``'s approval; the request is APPROVED once enough have approved."""
        if not approver.strip():
            raise ApprovalError(f"request {request_id}: an approval needs the approver's name")
        for _ in range(_MAX_RACES):
            row = self._row(request_id)
            self._refuse_unless_open(row)
            _refuse_changed_payload(row, expected_payload_hash)
            approvals = json.loads(row.approvals_json)
            if approver in approvals:
                raise ApprovalError(f"request {request_id}: {approver} has already approved it")
            approvals.append(approver)
            values: dict[str, Any] = {"approvals_json": json.dumps(approvals)}
            if len(approvals) >= row.required_approvals:
                values |= {
                    "status": ApprovalStatus.APPROVED.value,
                    "decided_at": self._now(),
                    "decided_by": approver,
                }
            # Only if nobody changed the request since we read it; otherwise read it again.
            if self._update_if_unchanged(row, values):
                return self.get(request_id)
        raise ApprovalError(f"request {request_id}: changed {_MAX_RACES} times while approving")

    def reject(self, request_id: str, *, approver: str, reason: str = "") -> ApprovalRequest:
        """Reject the request; refused if it is already decided."""
        if not approver.strip():
            raise ApprovalError(f"request {request_id}: a rejection needs the approver's name")
        row = self._row(request_id)
        if row.status != _PENDING:
            raise ApprovalError(f"request {request_id} is already {row.status}")
        values = {
            "status": ApprovalStatus.REJECTED.value,
            "decided_at": self._now(),
            "decided_by": approver,
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
        "decided_by": "expiry",
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

"""The chain intent store: one signed transaction per decision, committed before broadcast.

``decision_id`` is the idempotency key: once a decision has a row here, its transaction is never
signed again from scratch; a restart reads the row and reconciles it with the chain (rebroadcast
the same raw transaction, or record what mined). A fee bump re-signs the same nonce and keeps
every hash ever sent, because any of them may be the one that mines. This module never signs,
never sends and never deletes a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, func, select, update

from core.errors import ExecutionError
from state.tables import ChainIntentRow, ChainIntentStatus, utc_now

_TABLE = ChainIntentRow.__table__
_COLUMNS = _TABLE.c
OPEN_STATUSES = ("signed", "broadcast")
FINAL_STATUSES = ("mined", "failed", "replaced")


@dataclass(frozen=True)
class ChainIntent:
    """One persisted transaction of one decision, as the store holds it."""

    decision_id: str
    chain_id: int
    from_address: str
    nonce: int
    call_json: str
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    raw_tx: str
    tx_hash: str
    tx_hashes: tuple[str, ...]
    status: ChainIntentStatus
    attempts: int
    replacements: int
    block_number: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        """Signed or broadcast: the chain has not settled it yet."""
        return self.status in OPEN_STATUSES


def _intent(row: Any) -> ChainIntent:
    values = dict(row._mapping)
    values["tx_hashes"] = tuple(json.loads(values.pop("tx_hashes_json")))
    values["status"] = cast(ChainIntentStatus, values["status"])
    return ChainIntent(**values)


class ChainIntentStore:
    """Records chain intents and what became of them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, conn: Connection, intent: ChainIntent) -> None:
        """Write a new signed intent on ``conn`` (the nonce allocator's transaction commits it)."""
        values = {k: v for k, v in intent.__dict__.items() if k != "tx_hashes"}
        values["tx_hashes_json"] = json.dumps(list(intent.tx_hashes))
        conn.execute(_TABLE.insert(), values)

    def exists(self, conn: Connection, decision_id: str) -> bool:
        """Whether the decision has an intent, read on ``conn`` (inside its transaction)."""
        stmt = select(_COLUMNS.decision_id).where(_COLUMNS.decision_id == decision_id)
        return conn.execute(stmt).first() is not None

    def highest_nonce(self, conn: Connection, *, chain_id: int, address: str) -> int | None:
        """The highest nonce persisted for this sender on this chain; None if none."""
        stmt = select(func.max(_COLUMNS.nonce)).where(
            _COLUMNS.chain_id == chain_id, _COLUMNS.from_address == address
        )
        return conn.execute(stmt).scalar()

    def get(self, decision_id: str) -> ChainIntent | None:
        """The decision's intent, or None if it never had one."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_COLUMNS.decision_id == decision_id)).first()
        return None if row is None else _intent(row)

    def open_intents(self, *, chain_id: int, address: str) -> list[ChainIntent]:
        """Intents of this sender not yet settled, lowest nonce first."""
        stmt = (
            select(_TABLE)
            .where(
                _COLUMNS.chain_id == chain_id,
                _COLUMNS.from_address == address,
                _COLUMNS.status.in_(OPEN_STATUSES),
            )
            .order_by(_COLUMNS.nonce)
        )
        with self.engine.connect() as conn:
            return [_intent(row) for row in conn.execute(stmt)]

    def all_for(self, *, chain_id: int, address: str) -> list[ChainIntent]:
        """Every intent of this sender, lowest nonce first."""
        stmt = (
            select(_TABLE)
            .where(_COLUMNS.chain_id == chain_id, _COLUMNS.from_address == address)
            .order_by(_COLUMNS.nonce)
        )
        with self.engine.connect() as conn:
            return [_intent(row) for row in conn.execute(stmt)]

    def record_broadcast(self, decision_id: str) -> ChainIntent:
        """Count one more broadcast; a signed intent becomes broadcast."""
        stmt = (
            update(_TABLE)
            .where(_COLUMNS.decision_id == decision_id, _COLUMNS.status.in_(OPEN_STATUSES))
            .values(status="broadcast", attempts=_COLUMNS.attempts + 1, updated_at=utc_now())
        )
        return self._update_open(decision_id, stmt, "record a broadcast for")

    def record_replacement(
        self,
        decision_id: str,
        *,
        raw_tx: str,
        tx_hash: str,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
    ) -> ChainIntent:
        """Commit a fee bump (same nonce, new signature) before it is broadcast."""
        current = self._require(decision_id)
        stmt = (
            update(_TABLE)
            .where(_COLUMNS.decision_id == decision_id, _COLUMNS.status.in_(OPEN_STATUSES))
            .values(
                raw_tx=raw_tx,
                tx_hash=tx_hash,
                tx_hashes_json=json.dumps([*current.tx_hashes, tx_hash]),
                max_fee_per_gas=max_fee_per_gas,
                max_priority_fee_per_gas=max_priority_fee_per_gas,
                replacements=_COLUMNS.replacements + 1,
                updated_at=utc_now(),
            )
        )
        return self._update_open(decision_id, stmt, "replace")

    def record_outcome(
        self,
        decision_id: str,
        *,
        status: ChainIntentStatus,
        tx_hash: str | None = None,
        block_number: int | None = None,
        error: str | None = None,
    ) -> ChainIntent:
        """Settle an open intent as mined, failed or replaced; repeating the same is a no-op."""
        if status not in FINAL_STATUSES:
            raise ExecutionError(f"chain intent {decision_id}: {status!r} is not an outcome")
        values: dict[str, Any] = {"status": status, "block_number": block_number, "error": error}
        if tx_hash is not None:
            values["tx_hash"] = tx_hash
        stmt = (
            update(_TABLE)
            .where(_COLUMNS.decision_id == decision_id, _COLUMNS.status.in_(OPEN_STATUSES))
            .values(**values, updated_at=utc_now())
        )
        with self.engine.begin() as conn:
            changed = conn.execute(stmt).rowcount == 1
        intent = self._require(decision_id)
        if changed:
            return intent
        if intent.status == status and (tx_hash is None or intent.tx_hash == tx_hash):
            return intent
        raise ExecutionError(
            f"chain intent {decision_id} is already {intent.status}; cannot mark it {status}"
        )

    def _update_open(self, decision_id: str, stmt: Any, what: str) -> ChainIntent:
        with self.engine.begin() as conn:
            changed = conn.execute(stmt).rowcount == 1
        intent = self._require(decision_id)
        if changed:
            return intent
        raise ExecutionError(f"cannot {what} chain intent {decision_id}: it is {intent.status}")

    def _require(self, decision_id: str) -> ChainIntent:
        intent = self.get(decision_id)
        if intent is None:
            raise ExecutionError(f"decision {decision_id} has no chain intent")
        return intent

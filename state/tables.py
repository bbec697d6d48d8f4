"""The database tables behind the decision log, the approval queue and the order store.

Rows hold canonical JSON text, not pickles, so any SQL tool can read them. Datetimes go in as
UTC and come out as aware UTC whatever the backend keeps. Nothing here opens a connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, DateTime, Dialect, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

OrderStatus = Literal["intent", "filled", "failed"]
"""An order's life: recorded before sending (intent), then filled or failed."""


def utc_now() -> datetime:
    """The current time, aware UTC: the default clock of every store."""
    return datetime.now(UTC)


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or its ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps the zone (timestamptz); SQLite and others get naive UTC, because they
    would otherwise drop tzinfo and keep the local wall time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = as_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class LogEntryRow(SQLModel, table=True):
    """One decision-log entry; ``index`` is assigned by the log, never by the database."""

    __tablename__ = "decision_log"

    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    decision_id: str = Field(index=True)
    stage: str
    logged_at: datetime = Field(sa_type=UtcDateTime)
    payload_json: str = Field(sa_type=Text, description="Canonical JSON of the payload")
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ApprovalRow(SQLModel, table=True):
    """One request for people to approve an exact order; status changes only from pending."""

    __tablename__ = "approval_requests"

    request_id: str = Field(primary_key=True)
    decision_id: str = Field(index=True, unique=True)
    tier: str
    order_json: str = Field(sa_type=Text, description="Canonical JSON of the order")
    payload_hash: str = Field(max_length=64)
    required_approvals: int
    approvals_json: str = Field(sa_type=Text, default="[]", description="JSON list of approvers")
    status: str = Field(index=True)
    created_at: datetime = Field(sa_type=UtcDateTime, index=True)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    nonce: str
    decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    decided_by: str | None = None
    reason: str | None = Field(default=None, sa_type=Text)


class OrderRow(SQLModel, table=True):
    """One order, written as an intent before it is sent; decision_id is the idempotency key."""

    __tablename__ = "orders"

    order_id: str = Field(primary_key=True)
    decision_id: str = Field(unique=True)
    order_json: str = Field(sa_type=Text, description="Canonical JSON of the order")
    status: str = Field(index=True, description="intent | filled | failed")
    created_at: datetime = Field(sa_type=UtcDateTime)
    fill_json: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)


class ApprovalRefusalRow(SQLModel, table=True):
    """One refused attempt to decide a request: who (channel and identity), what, when and why.

    Written when an identity that no allowlist admits tries to approve or reject, so the TUI can
    show ``refused: 'mallory' via cli``. The request id is kept as given, even an unknown one.
    """

    __tablename__ = "approval_refusals"

    refusal_id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True)
    action: str = Field(description="approve | reject")
    channel: str = Field(description="cli | tui | telegram")
    identity: str = Field(description="As the channel gave it, cut to 64 characters")
    reason: str = Field(sa_type=Text)
    refused_at: datetime = Field(sa_type=UtcDateTime, index=True)


ChainIntentStatus = Literal["signed", "broadcast", "mined", "failed", "replaced"]
"""A chain transaction's life: signed and committed before it is sent (signed), sent (broadcast),
then mined (status 1), failed (mined but reverted) or replaced (its nonce used by a transaction
that is not ours)."""


class ChainIntentRow(SQLModel, table=True):
    """One signed transaction per decision, committed before broadcast; never signed twice.

    ``raw_tx`` and ``tx_hash`` are the latest signature (a fee bump re-signs the same nonce);
    ``tx_hashes_json`` lists every hash ever sent for this nonce, since any one of them may mine.
    """

    __tablename__ = "chain_intents"
    __table_args__ = (
        UniqueConstraint("chain_id", "from_address", "nonce", name="uq_chain_intents_nonce"),
    )

    decision_id: str = Field(primary_key=True)
    chain_id: int
    from_address: str = Field(index=True, description="Checksummed sender address")
    nonce: int
    call_json: str = Field(sa_type=Text, description="JSON of the ContractCall (to, data, value)")
    gas_limit: int
    max_fee_per_gas: int = Field(sa_type=BigInteger)
    max_priority_fee_per_gas: int = Field(sa_type=BigInteger)
    raw_tx: str = Field(sa_type=Text, description="0x hex of the latest signed transaction")
    tx_hash: str = Field(description="0x hash of raw_tx, or of the one that mined")
    tx_hashes_json: str = Field(sa_type=Text, description="JSON list of every hash sent")
    status: str = Field(index=True, description="signed | broadcast | mined | failed | replaced")
    attempts: int = Field(default=0, description="Broadcasts, rebroadcasts included")
    replacements: int = Field(default=0, description="Fee bumps with the same nonce")
    block_number: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class KillSwitchRow(SQLModel, table=True):
    """One engage or resume of the kill switch, by whom and why; the latest row is the state.

    Any channel writes here (CLI, control panel); a running governor applies new rows each tick.
    """

    __tablename__ = "kill_switch"

    command_id: int | None = Field(default=None, primary_key=True)
    action: str = Field(description="engage | resume")
    by: str = Field(description="Who: channel and identity, e.g. \"'alice' via cli\"")
    reason: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=UtcDateTime)

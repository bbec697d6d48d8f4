"""What an approved decision becomes: the order, the request for people to approve it, the fill."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from core.models.base import Model, Price, Symbol, Usd
from core.models.decisions import Side, Tier


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Order(Model):
    """What the executor is asked to do; decision_id is the idempotency key."""

    order_id: str
    decision_id: str
    tick: int = Field(ge=0)
    created_at: datetime
    asset: Symbol
    side: Side
    notional_usd: float = Field(gt=0, allow_inf_nan=False)
    quantity: float | None = Field(default=None, gt=0)
    mode: Literal["paper", "devnet", "fork", "live"] = "paper"
    strategy: str | None = Field(
        default=None, description="The strategy whose proposal it is: its fill is that "
        "strategy's lot in the treasury")


class ApprovalRequest(Model):
    """A request for people to approve one exact order before it may execute."""

    request_id: str
    decision_id: str
    tier: Tier
    order: Order
    payload_hash: str = Field(description="SHA-256 of the order's canonical JSON")
    required_approvals: int = Field(ge=1)
    approvals: tuple[str, ...] = ()
    status: ApprovalStatus = ApprovalStatus.PENDING
    created_at: datetime
    expires_at: datetime
    nonce: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class Fill(Model):
    order_id: str
    decision_id: str
    tick: int = Field(ge=0)
    ts: datetime
    asset: Symbol
    side: Side
    quantity: float = Field(gt=0, allow_inf_nan=False)
    price: Price
    fee_usd: Usd
    slippage_bps: float = Field(ge=0)
    strategy: str | None = None  # its order's: whose lot in the treasury it buys or sells

    @property
    def notional_usd(self) -> float:
        return self.quantity * self.price

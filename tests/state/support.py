"""Shared test helpers for the state package: a settable clock, order factories, approvers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import Fill, Order, Side
from state.approvers import ApprovalsConfig, Approver, Channel

START = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

APPROVERS = ApprovalsConfig(
    cli=("alice", "bob", "carol"),
    tui=("alice",),
    telegram={"alice": 123456789, "dave": 555000111},
)
"""Alice may decide from every channel, bob and carol from the CLI, dave from Telegram only."""
ALICE = Approver(Channel.CLI, "alice")
BOB = Approver(Channel.CLI, "bob")


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_order(
    n: int = 1, *, decision_id: str | None = None, notional_usd: float = 1000.0
) -> Order:
    return Order(
        order_id=f"o-{n}",
        decision_id=decision_id or f"d-{n}",
        tick=n,
        created_at=START + timedelta(minutes=n),
        asset="ETH",
        side=Side.BUY,
        notional_usd=notional_usd,
    )


def make_fill(order: Order, *, price: float = 2000.0) -> Fill:
    return Fill(
        order_id=order.order_id,
        decision_id=order.decision_id,
        tick=order.tick,
        ts=order.created_at + timedelta(seconds=5),
        asset=order.asset,
        side=order.side,
        quantity=order.notional_usd / price,
        price=price,
        fee_usd=1.5,
        slippage_bps=3.0,
    )

"""What the governor keeps across the ticks of one run, and the checks that read only it.

The orders it has promised (awaiting approval or in flight) reserve cash and holdings: every
order is checked against them just before it is submitted (``refusal``), and buys in flight
count in the policy's exposure (``reserved_by_asset``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from core.models import Fill, Order, PortfolioState, Side


@dataclass
class RunState:
    """What the governor tracks across ticks for one run."""

    outcomes: dict[str, str] = field(default_factory=dict)  # decision id -> latest outcome
    stages: Counter = field(default_factory=Counter)
    awaiting: dict[str, Order] = field(default_factory=dict)  # approval request id -> order
    in_flight: dict[str, Order] = field(default_factory=dict)  # decision id -> submitted order
    equity: list[float] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    holding: list[bool] = field(default_factory=list)
    """At each bar's close: any market position open (lending receipts are not exposure)."""
    denied_by_rule: Counter = field(default_factory=Counter)
    fills: list[Fill] = field(default_factory=list)
    """Every fill of the run, in order (what --plot marks)."""
    ticks: int = 0
    portfolio: PortfolioState | None = None
    trades_seen: int = 0  # round trips the treasury closed that the policy's history has

    def refusal(self, order: Order, portfolio: PortfolioState, *,
                kill_switch_engaged: bool) -> str | None:
        """Why the portfolio cannot take this order now, or None.

        Checked for every order just before it is submitted: an approval can come long after
        its proposal, and two proposals of one tick may together ask for more than there is.
        """
        if kill_switch_engaged and order.side is Side.BUY:
            return "kill switch engaged: only exits are executed"
        in_flight = [o for o in self.in_flight.values() if o.asset == order.asset]
        if order.side is Side.SELL:
            held = portfolio.quantity(order.asset)
            held -= sum(o.quantity or 0.0 for o in in_flight if o.side is Side.SELL)
            wanted = order.quantity or order.notional_usd / portfolio.prices.get(order.asset, 1.0)
            if wanted > held * (1 + 1e-9):
                return f"sell of {wanted:.8g} {order.asset} but only {held:.8g} is held and free"
            return None
        reserved = sum(o.notional_usd for o in self.in_flight.values() if o.side is Side.BUY)
        spendable = portfolio.cash_usd - reserved
        if order.notional_usd > spendable * (1 + 1e-9):
            return f"buy of {order.notional_usd:,.2f} but only {spendable:,.2f} cash is free"
        return None

    def reserved_by_asset(self) -> dict[str, float]:
        """Buys awaiting approval or fill: cash promised, exposure not yet in the portfolio."""
        reserved: dict[str, float] = {}
        for order in (*self.awaiting.values(), *self.in_flight.values()):
            if order.side is Side.BUY:
                reserved[order.asset] = reserved.get(order.asset, 0.0) + order.notional_usd
        return reserved

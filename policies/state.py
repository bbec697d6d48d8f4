"""PolicyState: the history the rules may look at beyond one proposal, as plain frozen data.

The governor builds one each time it asks the policy, from what it already knows (the marked
portfolio, fills, closed trades, the orders it sent and the requests still waiting for people).
Rules read it; nothing here does I/O or reads a clock: "now" is a field, so every rule is a pure
function of its inputs and a logged state can be judged again later (`quorum policy replay`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pydantic import Field

from core.models import Model, Side, Symbol


class ClosedTrade(Model):
    """One exit the treasury booked: the realised PnL of the quantity it sold."""

    asset: Symbol
    closed_at: datetime
    pnl_usd: float = Field(allow_inf_nan=False, description="Realised PnL, fees included")
    cost_usd: float = Field(ge=0, allow_inf_nan=False, description="Entry notional of what was sold")

    @property
    def return_share(self) -> float:
        """PnL as a share of the entry notional (-0.02 is a 2% loss)."""
        return self.pnl_usd / self.cost_usd if self.cost_usd > 0 else 0.0


class SentOrder(Model):
    """An order the governor sent to the executor (filled or still in flight)."""

    asset: Symbol
    side: Side
    notional_usd: float = Field(gt=0, allow_inf_nan=False)
    sent_at: datetime


class PolicyState(Model):
    """What the policy knows besides the proposal, the portfolio and the snapshot."""

    now: datetime = Field(
        description="The policy's clock: the bar's time when replaying data, the wall clock live"
    )
    history_since: datetime = Field(
        description="Where the history starts (the run's first tick): nothing earlier is known"
    )
    retained_s: float = Field(
        ge=0, description="How far back from now the trade and order lists below reach"
    )
    equity_peak_usd: float = Field(ge=0, allow_inf_nan=False, description="Highest marked equity")
    day_start_equity_usd: float = Field(
        ge=0, allow_inf_nan=False, description="Equity at the first tick of now's UTC day"
    )
    closed_trades: tuple[ClosedTrade, ...] = Field(default=(), description="Oldest first")
    orders: tuple[SentOrder, ...] = Field(default=(), description="Sent orders, oldest first")
    awaiting_approval: int = Field(
        default=0, ge=0, description="Orders the policy allowed that still wait for people"
    )
    kill_switch_engaged: bool = False

    def trades_since(self, start: datetime, *, asset: str | None = None) -> Iterator[ClosedTrade]:
        """Closed trades at or after ``start`` (of one asset, if given)."""
        for trade in self.closed_trades:
            if trade.closed_at >= start and (asset is None or trade.asset == asset):
                yield trade

    def orders_since(self, start: datetime) -> int:
        """How many orders were sent at or after ``start``."""
        return sum(1 for order in self.orders if order.sent_at >= start)

    def ago(self, seconds: float) -> datetime:
        return self.now - timedelta(seconds=seconds)

    @property
    def day_start(self) -> datetime:
        """Midnight UTC of ``now``'s day."""
        now = self.now.astimezone(UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    def covers(self, lookback_s: float) -> bool:
        """Whether the lists reach ``lookback_s`` back (or back to where the history starts)."""
        return lookback_s <= self.retained_s or self.ago(self.retained_s) <= self.history_since

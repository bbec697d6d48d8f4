"""The executor: turns approved decisions into orders and orders into fills. Exactly once.

The order's decision id is its idempotency key. The intent is persisted (and committed) before
the order is sent to the backend; a second order for the same decision is refused, never sent.
Paper mode fills at the next bar's open with a fee and the slippage model, sized against the
volume of the bar the order was placed on (the fill bar's volume is not known at its open).
The executor is never retried automatically by the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from core.config_model import ConfigModel
from core.errors import ExecutionError
from core.lending import receipt_price
from core.models import Bar, Fill, Order, Side, Symbol
from core.slippage import SlippageModel

if TYPE_CHECKING:
    from state.orders import OrderStore


class ExecutionConfig(ConfigModel):
    """`[execution]`: the paper backend's costs."""

    fee_rate: float = Field(
        default=0.001, ge=0, lt=0.1, description="Proportional fee per fill (0.001 = 0.1%)"
    )
    slippage: SlippageModel = Field(default_factory=SlippageModel)
    lending_rates: dict[Symbol, Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: {"AUSDC": 0.03},
        description="Paper lending: the yearly supply rate of each receipt asset deposits are "
        "booked under (treasury_regime's receipt_asset); a deposit buys it at 1 cash unit at the "
        "run's start, growing at this rate (core/lending.py). Empty: deposits are refused",
    )


class IntentBook:
    """What every executor shares: each decision's order recorded as an intent (committed)
    before anything is sent, a second order for a decision refused, pending orders cancelled
    when the run ends. Backends (paper, chain) add ``settle``."""

    def __init__(self, store: OrderStore | None) -> None:
        self.store = store
        self.pending: list[Order] = []
        self.seen_decisions: set[str] = set()
        self.filled = 0

    def submit(self, order: Order) -> bool:
        """Persist the intent, then queue the order; False if the decision was executed before."""
        if order.decision_id in self.seen_decisions:
            return False
        if self.store is not None and not self.store.record_intent(order):
            return False
        self.seen_decisions.add(order.decision_id)
        self.pending.append(order)
        return True

    def cancel_pending(self, *, reason: str) -> list[Order]:
        """Cancel every order not yet filled (the run is ending); returns them."""
        cancelled, self.pending = self.pending, []
        for order in cancelled:
            if self.store is not None:
                self.store.mark_failed(order.order_id, f"cancelled: {reason}")
        return cancelled

    def close(self) -> None:
        """Write out whatever the order store has buffered (a batched backtest's last orders)."""
        if self.store is not None:
            self.store.close()


class PaperExecutor(IntentBook):
    """Simulated fills: the next bar's open, moved against us by the slippage model, plus fee.

    ``commit_interval_s`` > 0 (backtests only) batches the order store's commits: orders are
    written at most that often and on ``close``, which the runtime calls at shutdown.
    """

    def __init__(self, config: ExecutionConfig, *, db_url: str | None,
                 start: datetime | None = None, commit_interval_s: float = 0.0) -> None:
        store = None
        if db_url:
            # SQLAlchemy loads only for a run that stores orders (the CLI starts faster).
            from state.db import make_engine
            from state.orders import OrderStore

            store = OrderStore(make_engine(db_url), commit_interval_s=commit_interval_s)
        super().__init__(store)
        self.config = config
        self.start = start
        """The run's first bar: where paper lending's receipt prices start at 1."""
        self.last_bars: Mapping[str, Bar] = {}  # the bars orders were placed on

    def settle(self, *, tick: int, bars: Mapping[str, Bar]) -> list[Fill]:
        """Fill every order submitted before ``tick`` at bar ``tick``'s open."""
        due = [order for order in self.pending if order.tick < tick]
        self.pending = [order for order in self.pending if order.tick >= tick]
        fills = []
        for order in due:
            if order.asset in self.config.lending_rates:
                fills.append(self._lend(order, tick, bars))
                continue
            bar = bars.get(order.asset)
            if bar is None:
                self._fail(order, f"no bar for {order.asset} at tick {tick}")
            placed_on = self.last_bars.get(order.asset, bar)
            fills.append(self._fill(order, bar, tick, known_volume=placed_on.volume))
        self.last_bars = bars  # a snapshot's (frozen); a backtest's builds only what is read
        return fills

    def receipt_prices(self, *, ts: datetime) -> dict[str, float]:
        """Each lending receipt's value in cash at ``ts`` (the treasury marks with these)."""
        if self.start is None:
            return {}
        return {asset: receipt_price(rate, start=self.start, ts=ts)
                for asset, rate in self.config.lending_rates.items()}

    def _lend(self, order: Order, tick: int, bars: Mapping[str, Bar]) -> Fill:
        """A deposit (buy) or withdrawal (sell) of a receipt asset at its accrued price: no fee,
        no slippage, at the time of the bar the orders fill on."""
        if self.start is None or not bars:
            self._fail(order, "paper lending needs the run's start and a bar time")
        ts = next(iter(bars.values())).ts
        price = receipt_price(self.config.lending_rates[order.asset], start=self.start, ts=ts)
        quantity = (order.notional_usd / price if order.side is Side.BUY
                    else order.quantity or order.notional_usd / price)
        fill = Fill(order_id=order.order_id, decision_id=order.decision_id, tick=tick, ts=ts,
                    asset=order.asset, side=order.side, quantity=quantity, price=price,
                    fee_usd=0.0, slippage_bps=0.0, strategy=order.strategy)
        if self.store is not None:
            self.store.mark_filled(order.order_id, fill)
        self.filled += 1
        return fill

    def _fill(self, order: Order, bar: Bar, tick: int, *, known_volume: float) -> Fill:
        fee_rate = self.config.fee_rate
        slip_bps = self.config.slippage.bps(
            notional_usd=order.notional_usd, price=bar.open, bar_volume=known_volume
        )
        if order.side is Side.BUY:
            price = bar.open * (1 + slip_bps / 1e4)
            quantity = order.notional_usd / (price * (1 + fee_rate))
        else:
            price = bar.open * (1 - slip_bps / 1e4)
            quantity = order.quantity or order.notional_usd / bar.open
        fill = Fill(
            order_id=order.order_id,
            decision_id=order.decision_id,
            tick=tick,
            ts=bar.ts,
            asset=order.asset,
            side=order.side,
            quantity=quantity,
            price=price,
            fee_usd=quantity * price * fee_rate,
            slippage_bps=slip_bps,
            strategy=order.strategy,
        )
        if self.store is not None:
            self.store.mark_filled(order.order_id, fill)
        self.filled += 1
        return fill

    def _fail(self, order: Order, error: str) -> None:
        if self.store is not None:
            self.store.mark_failed(order.order_id, error)
        raise ExecutionError(f"order {order.order_id} ({order.decision_id}): {error}")

    def health(self) -> dict[str, Any]:
        return {"pending": len(self.pending), "filled": self.filled}

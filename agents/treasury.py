"""The treasury agent: the portfolio. Applies fills, marks to market, keeps PnL and round trips.

For exits (agents/exits.py) it also keeps, per open position, the tick and decision that opened
it and the highest close marked since.

Fills are the only thing that changes holdings; a fill that would sell more than is held or
spend cash that is not there is refused (fail closed), never clamped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from core.errors import ExecutionError
from core.models import Fill, PortfolioState, Position, Side

QUANTITY_EPSILON = 1e-12
LENDING_SIDE = "lend"
"""A Trade's side when it is a lending round trip (deposit to withdrawal of a receipt asset)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed (or, at the end of a backtest, closed-out) long round trip."""

    asset: str
    side: str
    entry_time: str
    entry_price: float
    exit_time: str
    exit_price: float
    size: float
    pnl: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open long position as exits judge it."""

    asset: str
    quantity: float
    entry_price: float  # average, fees excluded
    entry_tick: int  # the bar whose open filled the first buy
    peak_price: float  # highest of the first fill's price and every close marked since
    opened_by: str  # decision id of the first buy


@dataclass(slots=True)
class _Open:
    quantity: float
    cost_usd: float  # cash paid, fees included
    opened_at: datetime
    entry_notional: float  # quantity * price, fees excluded
    entry_tick: int = 0
    peak_price: float = 0.0
    opened_by: str = ""
    shown: Position | None = None  # the Position portfolio() gives, until a fill changes it


class TreasuryAgent:
    def __init__(self, *, cash_usd: float, start: datetime,
                 opening: Mapping[str, tuple[float, float]] | None = None) -> None:
        """``opening``: what the wallet already holds when the run starts (a live run), asset
        -> (quantity, price): each becomes an open position bought at that price at ``start``,
        no fee, and counts in the starting equity."""
        self.cash_usd = cash_usd
        self.open: dict[str, _Open] = {}
        self.prices: dict[str, float] = {}
        for asset, (quantity, price) in (opening or {}).items():
            if not (quantity > 0 and price > 0):
                raise ExecutionError(f"opening position {asset}: quantity {quantity} at price "
                                     f"{price} is not a holding")
            value = quantity * price
            self.open[asset] = _Open(quantity, value, start, value, entry_tick=0,
                                     peak_price=price, opened_by="opening")
            self.prices[asset] = price
        self.initial_equity_usd = cash_usd + sum(h.cost_usd for h in self.open.values())
        self.realized_pnl_usd = 0.0
        self.fees_usd = 0.0
        self.trades: list[Trade] = []
        self.tick = 0
        self.ts = start
        self.fills_applied = 0

    def apply(self, fills: list[Fill]) -> PortfolioState:
        """Apply fills in order and return the new portfolio."""
        for fill in fills:
            self._apply_one(fill)
        return self.portfolio()

    def _apply_one(self, fill: Fill) -> None:
        gross = fill.quantity * fill.price
        if fill.side is Side.BUY:
            cost = gross + fill.fee_usd
            if cost > self.cash_usd * (1 + 1e-9) + 1e-9:
                raise ExecutionError(
                    f"fill {fill.order_id} costs {cost:,.2f} but only {self.cash_usd:,.2f} is held"
                )
            self.cash_usd -= cost
            held = self.open.get(fill.asset)
            if held is None:
                self.open[fill.asset] = _Open(
                    fill.quantity, cost, fill.ts, gross,
                    entry_tick=fill.tick, peak_price=fill.price, opened_by=fill.decision_id,
                )
            else:
                held.quantity += fill.quantity
                held.cost_usd += cost
                held.entry_notional += gross
                held.shown = None
                held.peak_price = max(held.peak_price, fill.price)
        else:
            held = self.open.get(fill.asset)
            if held is None or fill.quantity > held.quantity * (1 + 1e-9):
                have = held.quantity if held else 0.0
                raise ExecutionError(
                    f"fill {fill.order_id} sells {fill.quantity} {fill.asset} but {have} is held"
                )
            share = min(1.0, fill.quantity / held.quantity)
            cost_part = held.cost_usd * share
            proceeds = gross - fill.fee_usd
            pnl = proceeds - cost_part
            self.cash_usd += proceeds
            self.realized_pnl_usd += pnl
            entry_price = held.entry_notional / held.quantity
            self.trades.append(
                Trade(
                    asset=fill.asset,
                    side="long",
                    entry_time=held.opened_at.isoformat(),
                    entry_price=entry_price,
                    exit_time=fill.ts.isoformat(),
                    exit_price=fill.price,
                    size=fill.quantity,
                    pnl=pnl,
                )
            )
            held.quantity -= fill.quantity
            held.cost_usd -= cost_part
            held.entry_notional -= entry_price * fill.quantity
            held.shown = None
            if held.quantity <= QUANTITY_EPSILON or share >= 1.0:
                del self.open[fill.asset]
        self.fees_usd += fill.fee_usd  # only once the fill is known to apply
        self.fills_applied += 1

    def mark(self, *, tick: int, ts: datetime, prices: dict[str, float]) -> PortfolioState:
        """Mark holdings to the latest prices (lending receipts: the executor's receipt_prices)."""
        self.tick, self.ts = tick, ts
        self.prices.update(prices)
        for asset, held in self.open.items():
            if asset in prices:
                held.peak_price = max(held.peak_price, prices[asset])
        return self.portfolio()

    def mark_span(self, *, tick: int, ts: datetime, closes: Mapping[str, np.ndarray]
                  ) -> tuple[list[float], PortfolioState]:
        """``mark`` on each of a run of bars where nothing fills, in one pass (backtests coast
        such runs: core/event_loop.py). ``closes`` holds each asset's closes over the run, which
        ends at ``tick``/``ts``. Returns the equity at every bar's close, the same floats that
        marking bar by bar and reading ``equity_usd`` give, and the portfolio at the last bar."""
        values = []  # each open position's value at every bar, in the portfolio's order
        for asset, held in self.open.items():
            if asset in closes:
                price = closes[asset]
                held.peak_price = max(held.peak_price, float(price.max()))
                values.append((held.quantity * price).tolist())
            else:  # not a market asset: its last mark, as portfolio() values it
                last = self.prices.get(asset, held.entry_notional / held.quantity)
                values.append([held.quantity * last] * len(next(iter(closes.values()))))
        self.tick, self.ts = tick, ts
        self.prices.update({asset: float(price[-1]) for asset, price in closes.items()})
        cash = self.cash_usd
        if not values:
            equity = [cash + 0] * len(next(iter(closes.values())))
        elif len(values) == 1:
            equity = [cash + value for value in values[0]]
        else:  # Python's own sum, as PortfolioState.equity_usd adds them
            equity = [cash + sum(bar) for bar in zip(*values, strict=True)]
        return equity, self.portfolio()

    def open_positions(self) -> list[OpenPosition]:
        """Every open position with its entry, entry tick, peak close and opening decision."""
        return [
            OpenPosition(
                asset=asset,
                quantity=held.quantity,
                entry_price=held.entry_notional / held.quantity,
                entry_tick=held.entry_tick,
                peak_price=held.peak_price,
                opened_by=held.opened_by,
            )
            for asset, held in self.open.items()
        ]

    def portfolio(self) -> PortfolioState:
        return PortfolioState(
            tick=self.tick,
            ts=self.ts,
            cash_usd=self.cash_usd,
            positions={asset: held.shown or self._show(asset, held)
                       for asset, held in self.open.items()},
            prices=dict(self.prices),
            realized_pnl_usd=self.realized_pnl_usd,
            fees_usd=self.fees_usd,
            initial_equity_usd=self.initial_equity_usd,
        )

    @staticmethod
    def _show(asset: str, held: _Open) -> Position:
        held.shown = Position(asset=asset, quantity=held.quantity,
                              avg_entry_price=held.entry_notional / held.quantity,
                              opened_at=held.opened_at)
        return held.shown

    def closed_trades(self, *, last: int | None = None) -> list[Trade]:
        """Every round trip closed so far, oldest first; with ``last``, only the latest ones."""
        if last is not None:
            return self.trades[-last:] if last > 0 else []
        return list(self.trades)

    def open_trades_marked(self) -> list[Trade]:
        """Open positions as trades closed at the last mark (no fee), for end-of-run reports."""
        marked = []
        for asset, held in self.open.items():
            price = self.prices.get(asset, held.entry_notional / held.quantity)
            marked.append(
                Trade(
                    asset=asset,
                    side="long",
                    entry_time=held.opened_at.isoformat(),
                    entry_price=held.entry_notional / held.quantity,
                    exit_time=self.ts.isoformat(),
                    exit_price=price,
                    size=held.quantity,
                    pnl=held.quantity * price - held.cost_usd,
                )
            )
        return marked

    def health(self) -> dict[str, Any]:
        return {"fills_applied": self.fills_applied, "open_positions": len(self.open)}

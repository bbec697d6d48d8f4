"""The treasury agent: the portfolio. Applies fills, marks to market, keeps PnL and round trips.

Each asset's holding is kept in lots, one per strategy (the fill's ``strategy``, from its order's
proposal; holdings a live run starts with belong to none): a strategy's buy adds to its own lot,
and its sale takes from its own lot first, so strategies run together never sell, or exit, what
another bought. Only a sale larger than the seller's lot (a single strategy selling what the
wallet held at the start) takes the rest from the lots of no strategy, then from the others'.
The portfolio shows each asset's lots as one position. For exits (agents/exits.py) it also
keeps, per lot, the tick and decision that opened it and the highest close marked since.

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
NO_STRATEGY = ""
"""The owner of a lot no strategy bought: what a live run's wallet held when it started."""
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
    strategy: str | None = None  # whose lot it closed (None: no strategy's)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open lot, a strategy's long position in an asset, as exits judge it."""

    asset: str
    quantity: float
    entry_price: float  # average, fees excluded
    entry_tick: int  # the bar whose open filled the first buy
    peak_price: float  # highest of the first fill's price and every close marked since
    opened_by: str  # decision id of the first buy
    strategy: str | None = None  # whose lot (None: held before the run, no strategy's)
    opened_at: datetime | None = None


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
        self.open: dict[str, dict[str, _Open]] = {}  # asset -> owner -> lot ("": no strategy)
        self.prices: dict[str, float] = {}
        for asset, (quantity, price) in (opening or {}).items():
            if not (quantity > 0 and price > 0):
                raise ExecutionError(f"opening position {asset}: quantity {quantity} at price "
                                     f"{price} is not a holding")
            value = quantity * price
            self.open[asset] = {NO_STRATEGY: _Open(quantity, value, start, value, entry_tick=0,
                                                   peak_price=price, opened_by="opening")}
            self.prices[asset] = price
        self.initial_equity_usd = cash_usd + sum(lot.cost_usd for lots in self.open.values()
                                                 for lot in lots.values())
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
            lots = self.open.setdefault(fill.asset, {})
            held = lots.get(owner := fill.strategy or NO_STRATEGY)
            if held is None:
                lots[owner] = _Open(
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
            lots = self.open.get(fill.asset, {})
            have = sum((lot.quantity for lot in lots.values()), 0.0)
            if not lots or fill.quantity > have * (1 + 1e-9):
                raise ExecutionError(
                    f"fill {fill.order_id} sells {fill.quantity} {fill.asset} but {have} is held"
                )
            proceeds = gross - fill.fee_usd
            self.cash_usd += proceeds
            self._sell(fill, lots, proceeds)
            if not lots:
                del self.open[fill.asset]
        self.fees_usd += fill.fee_usd  # only once the fill is known to apply
        self.fills_applied += 1

    def _sell(self, fill: Fill, lots: dict[str, _Open], proceeds: float) -> None:
        """Take a sale from the seller's lot, then from no strategy's, then from the others'
        (oldest first), closing a round trip on each lot it takes from; the last lot takes
        what is left (within the fill check's tolerance)."""
        owner = fill.strategy or NO_STRATEGY
        order = sorted(lots, key=lambda key: (key != owner, key != NO_STRATEGY))
        remaining = fill.quantity
        for number, key in enumerate(order, start=1):
            if remaining <= fill.quantity * 1e-9:  # the fill check's tolerance: nothing left
                break
            held = lots[key]
            take = remaining if number == len(order) else min(remaining, held.quantity)
            share = min(1.0, take / held.quantity)
            cost_part = held.cost_usd * share
            part = proceeds if take == fill.quantity else proceeds * (take / fill.quantity)
            pnl = part - cost_part
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
                    size=take,
                    pnl=pnl,
                    strategy=key or None,
                )
            )
            held.quantity -= take
            held.cost_usd -= cost_part
            held.entry_notional -= entry_price * take
            held.shown = None
            if held.quantity <= QUANTITY_EPSILON or share >= 1.0:
                del lots[key]
            remaining -= take

    def mark(self, *, tick: int, ts: datetime, prices: dict[str, float]) -> PortfolioState:
        """Mark holdings to the latest prices (lending receipts: the executor's receipt_prices)."""
        self.tick, self.ts = tick, ts
        self.prices.update(prices)
        for asset, lots in self.open.items():
            if asset in prices:
                for held in lots.values():
                    held.peak_price = max(held.peak_price, prices[asset])
        return self.portfolio()

    def mark_span(self, *, tick: int, ts: datetime, closes: Mapping[str, np.ndarray]
                  ) -> tuple[list[float], PortfolioState]:
        """``mark`` on each of a run of bars where nothing fills, in one pass (backtests coast
        such runs: core/event_loop.py). ``closes`` holds each asset's closes over the run, which
        ends at ``tick``/``ts``. Returns the equity at every bar's close, the same floats that
        marking bar by bar and reading ``equity_usd`` give, and the portfolio at the last bar."""
        values = []  # each open position's value at every bar, in the portfolio's order
        for asset, lots in self.open.items():
            shown = self._shown(asset, lots)
            if asset in closes:
                price = closes[asset]
                peak = float(price.max())
                for held in lots.values():
                    held.peak_price = max(held.peak_price, peak)
                values.append((shown.quantity * price).tolist())
            else:  # not a market asset: its last mark, as portfolio() values it
                last = self.prices.get(asset, shown.avg_entry_price)
                values.append([shown.quantity * last] * len(next(iter(closes.values()))))
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
        """Every open lot with its strategy, entry, entry tick, peak close and opening decision."""
        return [
            OpenPosition(
                asset=asset,
                quantity=held.quantity,
                entry_price=held.entry_notional / held.quantity,
                entry_tick=held.entry_tick,
                peak_price=held.peak_price,
                opened_by=held.opened_by,
                strategy=owner or None,
                opened_at=held.opened_at,
            )
            for asset, lots in self.open.items() for owner, held in lots.items()
        ]

    def portfolio(self) -> PortfolioState:
        return PortfolioState(
            tick=self.tick,
            ts=self.ts,
            cash_usd=self.cash_usd,
            positions={asset: self._shown(asset, lots) for asset, lots in self.open.items()},
            prices=dict(self.prices),
            realized_pnl_usd=self.realized_pnl_usd,
            fees_usd=self.fees_usd,
            initial_equity_usd=self.initial_equity_usd,
        )

    @staticmethod
    def _shown(asset: str, lots: dict[str, _Open]) -> Position:
        """An asset's lots as one position (a single lot's is kept until a fill changes it)."""
        if len(lots) == 1:
            held = next(iter(lots.values()))
            if held.shown is None:
                held.shown = Position(asset=asset, quantity=held.quantity,
                                      avg_entry_price=held.entry_notional / held.quantity,
                                      opened_at=held.opened_at)
            return held.shown
        quantity = sum(held.quantity for held in lots.values())
        notional = sum(held.entry_notional for held in lots.values())
        return Position(asset=asset, quantity=quantity, avg_entry_price=notional / quantity,
                        opened_at=min(held.opened_at for held in lots.values()))

    def closed_trades(self, *, since: int = 0) -> list[Trade]:
        """Every round trip closed so far, oldest first; with ``since``, those after the first
        ``since`` of them."""
        return self.trades[since:]

    def open_trades_marked(self) -> list[Trade]:
        """Open lots as trades closed at the last mark (no fee), for end-of-run reports."""
        marked = []
        for asset, lots in self.open.items():
            for owner, held in lots.items():
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
                        strategy=owner or None,
                    )
                )
        return marked

    def health(self) -> dict[str, Any]:
        return {"fills_applied": self.fills_applied, "open_positions": len(self.open)}

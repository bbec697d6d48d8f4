"""The governor's books of a run: each bar's equity, time and exposure, and the bars it coasts.

A backtest coasts the bars where nothing can act (core/event_loop.py): the treasury is marked to
their closes and the books a whole tick would keep are kept, with no snapshot, no proposal and
no log entry. Every tick, coasted or not, ends in ``_end_tick``.
"""

from __future__ import annotations

from datetime import datetime

from core.models import Fill, PortfolioState
from core.policy_context import PolicyHistory
from core.run_state import RunState
from core.wiring import Runtime


class RunBooks:
    """Mixed into the Governor, which sets these attributes."""

    rt: Runtime
    state: RunState
    history: PolicyHistory
    lendable: frozenset[str]

    def coast(self, tick: int) -> PortfolioState:
        """A bar where nothing can act (core/event_loop.py): mark the treasury to its closes and
        keep the books a whole tick would keep; no snapshot, no proposals, no log entries."""
        ts, prices = self.rt.call("market_intel", "marks", tick)
        portfolio = self.rt.call("treasury", "mark", tick=tick, ts=ts,
                                 prices=self._with_receipts(prices, ts))
        self.history.observe(now=ts, equity_usd=portfolio.equity_usd)  # bar_clock's "now"
        self._end_tick(ts, portfolio)
        return portfolio

    def coast_span(self, ticks: range) -> PortfolioState:
        """``coast`` over a run of bars in one pass (one call to market intel and treasury):
        the same equity, history and books as coasting them one by one. Bars whose receipt
        prices come from the executor coast one by one."""
        held = self.state.portfolio.positions.keys() if self.state.portfolio else ()
        if len(ticks) < 2 or self.lendable & set(held):
            for tick in ticks:
                portfolio = self.coast(tick)
            return portfolio
        times, closes = self.rt.call("market_intel", "marks_span", ticks.start, ticks.stop)
        equity, portfolio = self.rt.call("treasury", "mark_span", tick=ticks[-1], ts=times[-1],
                                         closes=closes)
        self.history.observe_span(times=times, equity_usd=equity)
        state = self.state
        state.ticks += len(ticks)
        state.equity.extend(equity)
        state.times.extend(times)
        state.holding.extend([self._exposed(portfolio)] * len(ticks))
        state.portfolio = portfolio
        return portfolio

    def _with_receipts(self, prices: dict[str, float], ts: datetime,
                       fills: list[Fill] = ()) -> dict[str, float]:
        """Market closes plus each lending receipt's value from the executor, asked only while
        the treasury holds a receipt (or one was just filled)."""
        held = self.state.portfolio.positions.keys() if self.state.portfolio else ()
        if self.lendable & {*held, *(fill.asset for fill in fills)}:
            prices = {**prices, **self.rt.call("executor", "receipt_prices", ts=ts)}
        return prices

    def _end_tick(self, ts: datetime, portfolio: PortfolioState) -> None:
        self.state.ticks += 1
        self.state.equity.append(portfolio.equity_usd)
        self.state.times.append(ts)
        self.state.holding.append(self._exposed(portfolio))
        self.state.portfolio = portfolio

    def _exposed(self, portfolio: PortfolioState) -> bool:
        """Whether the portfolio holds a market position (not just lending receipts)."""
        return any(p.quantity > 0 for asset, p in portfolio.positions.items()
                   if asset not in self.lendable)

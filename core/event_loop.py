"""The backtest loop: the governor's whole tick only on bars where something can act.

A bar wakes the pipeline when a strategy may signal on it (``Strategy.active_bars``, computed
once from the whole-feed indicators), when an order waits to fill at its open, or when a
position is open while some strategy has exit triggers (a stop is judged every bar). Every other
bar coasts: the treasury is marked to its closes and the policy's history and the run's equity
curve get the bar, exactly as a whole tick would leave them (``Governor.coast``). A strategy that
cannot narrow its bars (``active_bars`` is None) wakes every bar, so the loop is then the plain
bar-by-bar loop. ``tests/integration/test_event_loop.py`` proves both give identical runs.

Only for replayed data judged by bar time with people simulated (backtests); anything else runs
bar by bar.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.governor import Governor
from core.human_gate import SimulatedGate
from core.models import PortfolioState
from core.policy_context import bar_clock

MAX_SPAN = 1 << 14
"""Most bars one coasted run covers."""


class EventLoop:
    """Steps a governor through ticks, waking its pipeline only where something can act."""

    def __init__(self, governor: Governor) -> None:
        self.governor = governor
        self.woken = 0
        self.coasted = 0

    def applicable(self) -> bool:
        """Bar-time policy and simulated people: nothing outside the data can act on a bar."""
        governor = self.governor
        return (governor.policy_clock is bar_clock and isinstance(governor.gate, SimulatedGate)
                and governor.switch_board is None and governor.venue is None)

    def run(
        self,
        ticks: range,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[int, PortfolioState], None] | None = None,
    ) -> None:
        """Bars ``ticks`` (consecutive); ``on_tick`` gets each woken bar and the last bar of
        each coasted run."""
        if ticks.step != 1:
            raise ValueError(f"the event loop steps through consecutive bars, not {ticks}")
        governor, rt = self.governor, self.governor.rt
        active = wake_at = None
        if self.applicable():
            active = rt.call("strategy", "active_bars", rt.call("market_intel", "feed_arrays"))
            wake_at = np.flatnonzero(active)
        exits = rt.call("strategy", "exits_active")
        tick = ticks.start
        while tick < ticks.stop:
            if should_stop():
                break
            if active is None or self._wakes(tick, active, exits=exits):
                quiet = None if active is None or active[tick] else self._quiet(exits)
                portfolio = governor.step(tick, quiet=quiet)
                self.woken += 1
                tick += 1
            else:
                until = self._next_wake(tick, ticks.stop, wake_at)
                portfolio = governor.coast_span(range(tick, until))
                self.coasted += until - tick
                tick = until
            if on_tick:
                on_tick(tick - 1, portfolio)

    def _wakes(self, tick: int, active: np.ndarray, *, exits: bool) -> bool:
        state = self.governor.state
        if active[tick] or state.in_flight:  # a signal, or an order to fill at this open
            return True
        return exits and _holds(state.portfolio)

    @staticmethod
    def _quiet(exits: bool) -> Callable[[PortfolioState], bool]:
        """For a bar no strategy signals on: after its fills, is there no stop to judge either?
        (Then the bar only fills and marks: its whole tick would propose nothing.)"""
        return lambda portfolio: not (exits and _holds(portfolio))

    @staticmethod
    def _next_wake(tick: int, stop: int, wake_at: np.ndarray) -> int:
        """The bar after ``tick`` where a strategy may signal (nothing else can wake a coasting
        run: no order is in flight and no stop is watched), capped at MAX_SPAN bars so that
        progress and a stop request are seen."""
        i = int(np.searchsorted(wake_at, tick, side="right"))
        wake = int(wake_at[i]) if i < len(wake_at) else stop
        return min(wake, stop, tick + MAX_SPAN)


def _holds(portfolio: PortfolioState | None) -> bool:
    """True if ``portfolio`` holds some position (a stop may fire on it)."""
    held = portfolio.positions.values() if portfolio else ()
    return any(position.quantity > 0 for position in held)

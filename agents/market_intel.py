"""Market intelligence: reads the feed up to tick t into a MarketSnapshot.

It asks the shared compute agent for every indicator of every asset in one batched call per
tick (one IndicatorRequest: the strategies' specs and, if configured, the fused standard set),
over a trailing window (a backtest computes them once over the whole feed), and classifies the
market phase. It never reads a bar after t.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from agents.compute import IndicatorRequest, IndicatorSpec, StandardSet
from core.feeds.base import MarketData
from core.models import MarketPhase, MarketSnapshot, finite_or_none

PHASE_LOOKBACK_BARS = 48
PHASE_THRESHOLD = 0.03


class Compute(Protocol):
    """What MarketIntel needs from the compute agent (a plain object or a Ray actor proxy)."""

    def compute(
        self,
        request: IndicatorRequest,
        *,
        close: np.ndarray,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        volume: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]: ...


class MarketIntelAgent:
    """Builds one MarketSnapshot per tick from a MarketData feed."""

    def __init__(
        self,
        data: MarketData,
        compute: Compute,
        *,
        specs: Sequence[IndicatorSpec],
        standard: StandardSet | None = None,
        precompute: bool = False,
    ) -> None:
        self.data = data
        self.precompute = precompute
        """Backtests: every indicator once over the whole feed, each tick reads its columns (the
        kernels are causal, so column t depends on bars 0..t only)."""
        self._whole: dict[str, np.ndarray] | None = None
        self.compute = compute
        self.specs = list(specs)
        self.request = IndicatorRequest(specs=tuple(self.specs), standard=standard)
        # Long enough that windowed EMA/RSI seeds have decayed to noise; SMA equals the
        # full-history value up to floating-point rounding (the running sum starts elsewhere).
        self.window = max(10 * self.request.lookback, PHASE_LOOKBACK_BARS) + 2
        self.observed = 0

    @property
    def n_bars(self) -> int:
        return self.data.n_bars

    def observe(self, tick: int) -> MarketSnapshot:
        """The snapshot at the close of bar ``tick``."""
        if not 0 <= tick < self.data.n_bars:
            raise IndexError(f"tick {tick} outside the feed's {self.data.n_bars} bars")
        start = max(0, tick + 1 - self.window)
        if self.precompute:
            values = {k: v[:, start : tick + 1] for k, v in self.indicator_arrays().items()}
        else:
            values = self._indicators(slice(start, tick + 1))
        indicators, previous = {}, {}
        for i, asset in enumerate(self.data.assets):
            indicators[asset] = {k: finite_or_none(v[i, -1]) for k, v in values.items()}
            previous[asset] = {
                k: finite_or_none(v[i, -2]) if v.shape[1] > 1 else None for k, v in values.items()
            }
        self.observed += 1
        return MarketSnapshot(
            tick=tick,
            ts=self.data.time(tick),
            bars={asset: self.data.bar(asset, tick) for asset in self.data.assets},
            indicators=indicators,
            previous_indicators=previous,
            volatility={
                asset: trailing_volatility(self.data.close[i, start : tick + 1])
                for i, asset in enumerate(self.data.assets)
            },
            phase=classify_phase(self.data.close[0, : tick + 1]),
        )

    def indicator_arrays(self) -> dict[str, np.ndarray]:
        """Every requested indicator over the whole feed (assets × bars), computed once."""
        if self._whole is None:
            self._whole = self._indicators(slice(0, self.data.n_bars))
        return self._whole

    def marks(self, tick: int) -> tuple[datetime, dict[str, float]]:
        """Bar ``tick``'s time and closing prices: all a bar where nothing acts needs."""
        return self.data.time(tick), {
            asset: float(self.data.close[i, tick]) for i, asset in enumerate(self.data.assets)
        }

    def _indicators(self, window: slice) -> dict[str, np.ndarray]:
        """One batched compute call for every asset, sending only the arrays the request reads."""
        if not self.request.specs and self.request.standard is None:
            return {}
        arrays = {
            name: getattr(self.data, name)[:, window] for name in sorted(self.request.inputs)
        }
        return self.compute.compute(self.request, **arrays)

    def health(self) -> dict[str, Any]:
        return {"observed": self.observed, "assets": list(self.data.assets)}


def trailing_volatility(close: np.ndarray) -> float | None:
    """Standard deviation of per-bar log returns over the last PHASE_LOOKBACK_BARS bars."""
    window = close[-PHASE_LOOKBACK_BARS - 1 :]
    if len(window) < 3:
        return None
    return float(np.std(np.diff(np.log(window)), ddof=1))


def classify_phase(close: np.ndarray) -> MarketPhase:
    """Bull, bear or sideways from the trailing return of the lead asset."""
    if len(close) <= PHASE_LOOKBACK_BARS:
        return MarketPhase.UNKNOWN
    change = close[-1] / close[-1 - PHASE_LOOKBACK_BARS] - 1.0
    if change > PHASE_THRESHOLD:
        return MarketPhase.BULL
    if change < -PHASE_THRESHOLD:
        return MarketPhase.BEAR
    return MarketPhase.SIDEWAYS

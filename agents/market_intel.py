"""Market intelligence: reads the feed up to tick t into a MarketSnapshot.

It asks the shared compute agent for every indicator of every asset in one batched call per
tick (one IndicatorRequest: the strategies' specs and, if configured, the fused standard set),
over a trailing window (a backtest computes them once over the whole feed), and classifies the
market phase. It never reads a bar after t.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from math import isnan
from typing import Any, Protocol

import numpy as np

from agents.indicator_spec import IndicatorRequest, IndicatorSpec, StandardSet
from agents.snapshot_rows import BarRows, LazyRows
from core.feeds.base import MarketData
from core.models import (
    Bar,
    IndicatorValues,
    MarketPhase,
    MarketSnapshot,
    finite_or_none,
)

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
        self._block: tuple[list[str], np.ndarray, np.ndarray] | None = None
        self.compute = compute
        self.specs = list(specs)
        self.request = IndicatorRequest(specs=tuple(self.specs), standard=standard)
        # Long enough that windowed EMA/RSI seeds have decayed to noise; SMA equals the
        # full-history value up to floating-point rounding (the running sum starts elsewhere).
        self.window = max(10 * self.request.lookback, PHASE_LOOKBACK_BARS) + 2
        self.observed = 0
        self._index = {asset: i for i, asset in enumerate(data.assets)}

    @property
    def n_bars(self) -> int:
        return self.data.n_bars

    def observe(self, tick: int) -> MarketSnapshot:
        """The snapshot at the close of bar ``tick``."""
        if not 0 <= tick < self.data.n_bars:
            raise IndexError(f"tick {tick} outside the feed's {self.data.n_bars} bars")
        if self.precompute:
            return self._observe_precomputed(tick)
        start = max(0, tick + 1 - self.window)
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

    def _observe_precomputed(self, tick: int) -> MarketSnapshot:
        """``observe`` over the whole-feed indicators: the same snapshot, read from one
        (bars × assets × indicators) block. Its bars, indicators and volatilities are built per
        asset when first read (agents/snapshot_rows.py): a strategy and the governance read one
        or two of 50 assets, and a backtest wakes on many bars."""
        keys, block, warm = self._tick_block()
        data, assets, index = self.data, self.data.assets, self._index
        ts = data.time(tick)

        def bar(i: int) -> Bar:
            return Bar(asset=assets[i], ts=ts, open=float(data.open[i, tick]),
                       high=float(data.high[i, tick]), low=float(data.low[i, tick]),
                       close=float(data.close[i, tick]), volume=float(data.volume[i, tick]))

        def closes() -> dict[str, float]:
            return dict(zip(assets, data.close[:, tick].tolist(), strict=True))

        def volatility(i: int) -> float | None:
            return trailing_volatility(data.close[i, : tick + 1])

        self.observed += 1
        return MarketSnapshot.model_construct(
            tick=tick, ts=ts, bars=BarRows(assets, index, bar, closes),
            indicators=LazyRows(assets, index, _row_values(keys, block[tick], warm[tick])),
            previous_indicators=LazyRows(
                assets, index,
                _row_values(keys, block[tick - 1], warm[tick - 1]) if tick > 0
                else lambda i: dict.fromkeys(keys)),
            volatility=LazyRows(assets, index, volatility),
            phase=classify_phase(data.close[0, : tick + 1]),
        )

    def _tick_block(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(indicator keys, bars × assets × keys values, bars: whether any value is NaN)."""
        if self._block is None:
            arrays = self.indicator_arrays()
            keys = list(arrays)
            shape = (self.data.n_bars, len(self.data.assets), len(keys))
            block = np.empty(shape)
            for k, key in enumerate(keys):
                block[:, :, k] = arrays[key].T
            self._block = (keys, block, np.isnan(block).any(axis=(1, 2)))
        return self._block

    def indicator_arrays(self) -> dict[str, np.ndarray]:
        """Every requested indicator over the whole feed (assets × bars), computed once."""
        if self._whole is None:
            self._whole = self._indicators(slice(0, self.data.n_bars))
        return self._whole

    def feed_arrays(self) -> dict[str, np.ndarray]:
        """What ``Strategy.active_bars`` reads: ``indicator_arrays`` and the closes (``close``),
        every one assets × bars over the whole feed."""
        return {**self.indicator_arrays(), "close": self.data.close}

    def marks(self, tick: int) -> tuple[datetime, dict[str, float]]:
        """Bar ``tick``'s time and closing prices: all a bar where nothing acts needs."""
        return self.data.time(tick), {
            asset: float(self.data.close[i, tick]) for i, asset in enumerate(self.data.assets)
        }

    def marks_span(self, start: int, stop: int) -> tuple[list[datetime], dict[str, np.ndarray]]:
        """``marks`` for bars start..stop-1 at once: their times and each asset's closes."""
        return self.data.times(start, stop), {
            asset: self.data.close[i, start:stop] for i, asset in enumerate(self.data.assets)
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


def _row_values(keys: list[str], rows: np.ndarray, warming: bool
                ) -> Callable[[int], IndicatorValues]:
    """Asset i's indicator values from its row of ``rows``; NaN (warm-up) becomes None,
    looked for only on bars where ``warming`` says some value is NaN."""
    def values(i: int) -> IndicatorValues:
        row = rows[i].tolist()
        if warming:
            row = [None if isnan(value) else value for value in row]
        return dict(zip(keys, row, strict=True))

    return values


def trailing_volatility(close: np.ndarray) -> float | None:
    """Standard deviation (ddof 1) of per-bar log returns over the last PHASE_LOOKBACK_BARS bars.

    ``np.std``'s own steps (numpy's sums, IEEE division and square root), without its generic
    overhead: the same floats (tests/agents/test_market_intel.py holds it to ``np.std``)."""
    logs = np.log(close[-PHASE_LOOKBACK_BARS - 1 :])
    n = len(logs) - 1
    if n < 2:
        return None
    returns = logs[1:] - logs[:-1]
    deviations = returns - float(np.add.reduce(returns)) / n
    return math.sqrt(float(np.add.reduce(deviations * deviations)) / (n - 1))


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

"""Market intelligence: reads the feed up to tick t into a MarketSnapshot.

It asks the shared compute agent for every indicator of every asset in one batched call per
tick (one IndicatorRequest: the strategies' specs and, if configured, the fused standard set),
over a trailing window (a backtest computes them once over the whole feed), and classifies the
market phase. It never reads a bar after t.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from math import isnan
from typing import Any, Protocol

import numpy as np

from agents.compute import IndicatorRequest, IndicatorSpec, StandardSet
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
        (bars × assets × indicators) block with one list conversion per tick, and built without
        re-validating the indicators it computed itself (a backtest wakes on many bars)."""
        keys, block, warm = self._tick_block()
        data, assets = self.data, self.data.assets
        indicators = _values(assets, keys, block[tick], warm[tick])
        if tick > 0:
            previous = _values(assets, keys, block[tick - 1], warm[tick - 1])
        else:
            previous = {asset: dict.fromkeys(keys) for asset in assets}
        ts = data.time(tick)
        columns = zip(assets, data.open[:, tick].tolist(), data.high[:, tick].tolist(),
                      data.low[:, tick].tolist(), data.close[:, tick].tolist(),
                      data.volume[:, tick].tolist(), strict=True)
        bars = {asset: Bar(asset=asset, ts=ts, open=o, high=h, low=lo, close=c, volume=v)
                for asset, o, h, lo, c, v in columns}  # validating a Bar beats model_construct
        self.observed += 1
        return MarketSnapshot.model_construct(
            tick=tick, ts=ts, bars=bars, indicators=indicators, previous_indicators=previous,
            volatility=dict(zip(assets, trailing_volatilities(data.close[:, : tick + 1]),
                                strict=True)),
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


def trailing_volatilities(close: np.ndarray) -> list[float | None]:
    """``trailing_volatility`` of every row of an (assets × bars) close block in one call
    (numpy reduces each row as it reduces a single series: the same floats)."""
    # Row-contiguous, so each row reduces exactly as a lone series does (a column-major block
    # would be reduced in another order: other floats).
    window = np.ascontiguousarray(close[:, -PHASE_LOOKBACK_BARS - 1 :])
    if window.shape[1] < 3:
        return [None] * len(close)
    return np.std(np.diff(np.log(window), axis=1), axis=1, ddof=1).tolist()


def _values(assets: Sequence[str], keys: list[str], rows: np.ndarray, warming: bool
            ) -> dict[str, IndicatorValues]:
    """Each asset's indicator values from its row of ``rows``; NaN (warm-up) becomes None,
    looked for only on bars where ``warming`` says some value is NaN."""
    lists = rows.tolist()
    if warming:
        lists = [[None if isnan(value) else value for value in row] for row in lists]
    return {asset: dict(zip(keys, row, strict=True)) for asset, row in zip(assets, lists,
                                                                            strict=True)}


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

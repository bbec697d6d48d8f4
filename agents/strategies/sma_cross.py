"""SMA cross: long when the fast simple moving average crosses above the slow one, flat when it
crosses back below. Long only; asks to go all-in on entry and to sell everything on exit
(the risk agent sizes the entry down to its fixed fraction)."""

from __future__ import annotations

from math import isnan

import numpy as np
from pydantic import Field, model_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, register
from core.models import MarketSnapshot, PortfolioState, SentimentReading, Side


class SmaCrossConfig(StrategyConfig):
    fast: int = Field(default=10, ge=1, description="Fast SMA period, in bars")
    slow: int = Field(default=30, ge=2, description="Slow SMA period, in bars")

    @model_validator(mode="after")
    def _ordered(self) -> SmaCrossConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


@register
class SmaCross(Strategy):
    """SMA cross: long when the fast SMA crosses above the slow one, flat when it crosses below."""

    name = "sma_cross"
    config_model = SmaCrossConfig
    config: SmaCrossConfig

    def required_indicators(self) -> list[IndicatorSpec]:
        return [
            IndicatorSpec(name="sma", period=self.config.fast),
            IndicatorSpec(name="sma", period=self.config.slow),
        ]

    crossing: np.ndarray | None = None
    """(assets × bars) where each asset's averages crossed, kept by ``active_bars`` (which a
    backtest asks once over the whole feed): its woken bars then test only those assets."""

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray:
        """Bars where the fast SMA crosses the slow one (either way) for some asset."""
        fast_key, slow_key = self.indicator_keys
        fast, slow = indicators[fast_key], indicators[slow_key]
        before, now = np.s_[:, :-1], np.s_[:, 1:]
        with np.errstate(invalid="ignore"):  # NaN while warming up compares False: no signal
            up = (fast[before] <= slow[before]) & (fast[now] > slow[now])
            down = (fast[before] >= slow[before]) & (fast[now] < slow[now])
        self._fast = fast
        self.crossing = np.zeros(fast.shape, dtype=bool)
        self.crossing[:, 1:] = up | down  # bar t from bars t-1 and t only: no look-ahead
        return self.crossing.any(axis=0)

    def _may_cross(self, snapshot: MarketSnapshot) -> list[str]:
        """The assets that can signal at this bar: with ``crossing`` known for it, those whose
        averages crossed there (the same comparisons ``signals`` makes); else every asset.

        ``crossing`` is trusted only for the feed it was computed from: the snapshot's first
        asset must have the fast average it holds for this bar."""
        assets, crossing, tick = list(snapshot.bars), self.crossing, snapshot.tick
        if crossing is None or crossing.shape[0] != len(assets) or tick >= crossing.shape[1]:
            return assets
        fast = snapshot.indicators.get(assets[0], {}).get(self.indicator_keys[0])
        kept = self._fast[0, tick]
        if not (fast == kept or (fast is None and isnan(kept))):
            return assets  # another feed than active_bars saw
        return [assets[i] for i in np.flatnonzero(crossing[:, tick]).tolist()]

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        fast_key, slow_key = self.indicator_keys
        indicators, previous = snapshot.indicators, snapshot.previous_indicators
        signals = []
        for asset in self._may_cross(snapshot):
            now = indicators.get(asset, {})
            fast, slow = now.get(fast_key), now.get(slow_key)
            if fast is None or slow is None:
                continue  # still warming up
            # Cheapest tests first: the averages now and the position decide which cross could
            # signal (a buy when flat, a sale when holding); the previous bar is read only then.
            if fast > slow:
                side, held = Side.BUY, portfolio.quantity(asset)
                if held != 0:
                    continue
            elif fast < slow:
                side, held = Side.SELL, portfolio.quantity(asset)
                if not held > 0:
                    continue
            else:
                continue
            before = previous.get(asset, {})
            fast_before, slow_before = before.get(fast_key), before.get(slow_key)
            if fast_before is None or slow_before is None:
                continue  # still warming up
            crossed = fast_before <= slow_before if side is Side.BUY else fast_before >= slow_before
            if crossed:
                signals.append(self._signal(asset, side, fast, slow, held, portfolio))
        return signals

    def _signal(
        self, asset: str, side: Side, fast: float, slow: float, held: float,
        portfolio: PortfolioState,
    ) -> Signal:
        """The entry (all the cash) or the exit (everything held) on a cross."""
        spread_bps = 1e4 * (fast - slow) / slow
        buy = side is Side.BUY
        return Signal(
            asset=asset,
            side=side,
            confidence=min(1.0, 0.5 + abs(spread_bps) / 100),
            rationale=f"SMA{self.config.fast} crossed {'above' if buy else 'below'} "
            f"SMA{self.config.slow} ({spread_bps:+.1f} bps)",
            notional_usd=portfolio.cash_usd if buy else portfolio.position_value(asset),
            quantity=None if buy else held,
        )

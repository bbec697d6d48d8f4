"""SMA cross: long when the fast simple moving average crosses above the slow one, flat when it
crosses back below. Long only; asks to go all-in on entry and to sell everything on exit
(the risk agent sizes the entry down to its fixed fraction)."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from agents.compute import IndicatorSpec
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

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray:
        """Bars where the fast SMA crosses the slow one (either way) for some asset."""
        fast_key, slow_key = (spec.key for spec in self.required_indicators())
        fast, slow = indicators[fast_key], indicators[slow_key]
        active = np.zeros(fast.shape[1], dtype=bool)
        before, now = np.s_[:, :-1], np.s_[:, 1:]
        with np.errstate(invalid="ignore"):  # NaN while warming up compares False: no signal
            up = (fast[before] <= slow[before]) & (fast[now] > slow[now])
            down = (fast[before] >= slow[before]) & (fast[now] < slow[now])
        active[1:] = (up | down).any(axis=0)
        return active

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        fast_key, slow_key = (spec.key for spec in self.required_indicators())
        signals = []
        for asset in snapshot.bars:
            now = snapshot.indicators.get(asset, {})
            before = snapshot.previous_indicators.get(asset, {})
            fast, slow = now.get(fast_key), now.get(slow_key)
            fast_before, slow_before = before.get(fast_key), before.get(slow_key)
            if None in (fast, slow, fast_before, slow_before):
                continue  # still warming up
            spread_bps = 1e4 * (fast - slow) / slow
            confidence = min(1.0, 0.5 + abs(spread_bps) / 100)
            held = portfolio.quantity(asset)
            if fast_before <= slow_before and fast > slow and held == 0:
                signals.append(
                    Signal(
                        asset=asset,
                        side=Side.BUY,
                        confidence=confidence,
                        rationale=f"SMA{self.config.fast} crossed above SMA{self.config.slow} "
                        f"({spread_bps:+.1f} bps)",
                        notional_usd=portfolio.cash_usd,
                    )
                )
            elif fast_before >= slow_before and fast < slow and held > 0:
                signals.append(
                    Signal(
                        asset=asset,
                        side=Side.SELL,
                        confidence=confidence,
                        rationale=f"SMA{self.config.fast} crossed below SMA{self.config.slow} "
                        f"({spread_bps:+.1f} bps)",
                        notional_usd=portfolio.position_value(asset),
                        quantity=held,
                    )
                )
        return signals

"""Volatility-targeted trend: long while the fast EMA is above the slow one, with a position sized
so its volatility is ``target_volatility`` a year: weight = min(1, target / realised volatility).

Each asset has an equal sleeve of ``max_exposure`` × equity (40% by default, the shipped policy's
``max_volatile_share``, so the strategy does not ask every bar for what the policy denies); the
position is the sleeve times the weight, so twice the volatility means half the position. It
trades only when the position is more than ``min_rebalance`` of equity away from its target,
and sells everything when the trend turns.
"""

from __future__ import annotations

import math

from pydantic import Field, ValidationInfo, field_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import (
    Signal,
    Strategy,
    StrategyConfig,
    indicator_values,
    register,
)
from core.models import Bar, MarketSnapshot, PortfolioState, SentimentReading, Side


class VolTargetConfig(StrategyConfig):
    fast: int = Field(default=20, ge=1, description="Fast EMA period of the trend filter, in bars")
    slow: int = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=100, ge=2, description="Slow EMA period of the trend filter, in bars")
    volatility_period: int = Field(
        default=48, ge=2, description="Bars of log returns in the realised volatility"
    )
    target_volatility: float = Field(
        default=0.5, gt=0, le=10, allow_inf_nan=False,
        description="Annualised volatility each position is sized to (0.5 = 50% a year)",
    )
    bars_per_year: float = Field(
        default=8760, gt=0, allow_inf_nan=False,
        description="Bars in a year, to annualise the per-bar volatility (8760 hourly, 105120 "
        "five-minute, 365 daily)",
    )
    max_exposure: float = Field(
        default=0.4, gt=0, le=1, allow_inf_nan=False,
        description="Share of equity all the sleeves together may hold, split equally between "
        "the assets (0.4: the shipped policy's max_volatile_share)",
    )
    min_rebalance: float = Field(
        default=0.02, ge=0, lt=1, allow_inf_nan=False,
        description="Trade only when a position is this share of equity away from its target",
    )

    @field_validator("slow")
    @classmethod
    def _slower_than_fast(cls, slow: int, info: ValidationInfo) -> int:
        fast = info.data.get("fast")
        if fast is not None and slow <= fast:
            raise ValueError(f"slow ({slow}) must be longer than fast ({fast})")
        return slow

    def target_weight(self, volatility_per_bar: float) -> float:
        """Share of an asset's sleeve to hold at this per-bar volatility (trend up)."""
        annual = volatility_per_bar * math.sqrt(self.bars_per_year)
        return 1.0 if annual <= 0 else min(1.0, self.target_volatility / annual)


@register
class VolTarget(Strategy):
    """Trend following (EMA cross) with positions sized to a volatility target."""

    name = "vol_target"
    config_model = VolTargetConfig
    config: VolTargetConfig

    def required_indicators(self) -> list[IndicatorSpec]:
        return [
            IndicatorSpec(name="ema", period=self.config.fast),
            IndicatorSpec(name="ema", period=self.config.slow),
            IndicatorSpec(name="volatility", period=self.config.volatility_period),
        ]

    def volatile_share(self) -> tuple[float, str]:
        return self.config.max_exposure, "max_exposure"

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        keys = self.indicator_keys
        equity = portfolio.equity_usd  # summed over every position: once a bar, not per asset
        if equity <= 0:
            return []
        sleeve = equity * self.config.max_exposure / max(1, len(snapshot.bars))
        cash = portfolio.cash_usd
        signals = []
        for asset, bar in snapshot.bars.items():
            values = indicator_values(snapshot.indicators.get(asset, {}), keys)
            if values is None:
                continue  # warming up
            signal = self._toward_target(bar, values, sleeve=sleeve, cash=cash, equity=equity,
                                         portfolio=portfolio)
            if signal is not None:
                cash -= signal.notional_usd if signal.side is Side.BUY else 0.0
                signals.append(signal)
        return signals

    def _toward_target(
        self, bar: Bar, values: list[float], *, sleeve: float, cash: float, equity: float,
        portfolio: PortfolioState,
    ) -> Signal | None:
        """A buy or sale moving the asset's position to its volatility-scaled target, if due."""
        fast, slow, volatility = values
        weight = self.config.target_weight(volatility) if fast > slow else 0.0
        target = sleeve * weight
        held_value = portfolio.position_value(bar.asset)
        gap = target - held_value
        exiting = weight == 0 and held_value > 0
        if abs(gap) <= self.config.min_rebalance * equity and not exiting:
            return None
        spread_bps = 1e4 * (fast - slow) / slow
        confidence = min(1.0, 0.5 + abs(spread_bps) / 200)
        described = (f"EMA{self.config.fast} {spread_bps:+.0f} bps vs EMA{self.config.slow}; "
                     f"volatility {volatility:.3%}/bar → weight {weight:.0%} of a "
                     f"{sleeve:,.0f} sleeve")
        if gap > 0:
            notional = min(gap, cash)
            if notional <= 0:
                return None
            return Signal(asset=bar.asset, side=Side.BUY, confidence=confidence,
                          rationale=f"raise to target {target:,.0f}: {described}",
                          notional_usd=notional)
        held = portfolio.quantity(bar.asset)
        quantity = held if exiting else min(held, -gap / bar.close)
        verb = "trend turned: exit" if exiting else f"cut to target {target:,.0f}"
        return Signal(asset=bar.asset, side=Side.SELL, confidence=confidence,
                      rationale=f"{verb}: {described}", notional_usd=quantity * bar.close,
                      quantity=quantity)

"""Time-series momentum: long while an asset's own trailing return is strong, flat once it fades.

The trailing return over ``lookback`` bars comes from the ``sma_<lookback>`` the compute agent
already provides: SMA(t) - SMA(t-1) = (close(t) - close(t-lookback)) / lookback, so the close
``lookback`` bars ago is close(t) - lookback * (SMA(t) - SMA(t-1)), with nothing after t.
Long only (the treasury holds no shorts); asks for all cash on entry, the risk agent sizes it.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, register
from core.models import MarketSnapshot, PortfolioState, SentimentReading, Side


class MomentumConfig(StrategyConfig):
    lookback: int = Field(
        default=48, ge=2, description="Bars over which the trailing return is measured"
    )
    entry_return: float = Field(
        default=0.03, gt=0, lt=10, allow_inf_nan=False,
        description="Buy when the trailing return is above this (0.03 = +3%)",
    )
    exit_return: float = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=0.0, gt=-1, allow_inf_nan=False,
        description="Sell the position when the trailing return falls below this",
    )
    volatility_period: int = Field(
        default=48, ge=2,
        description="Bars of log returns in the volatility that scales confidence",
    )

    @field_validator("exit_return")
    @classmethod
    def _below_entry(cls, exit_return: float, info: ValidationInfo) -> float:
        entry = info.data.get("entry_return")
        if entry is not None and exit_return >= entry:
            raise ValueError(
                f"exit_return ({exit_return:g}) must be below entry_return ({entry:g})"
            )
        return exit_return


@register
class Momentum(Strategy):
    """Time-series momentum: long on a strong trailing return, out when it fades."""

    name = "momentum"
    config_model = MomentumConfig
    config: MomentumConfig

    def required_indicators(self) -> list[IndicatorSpec]:
        return [
            IndicatorSpec(name="sma", period=self.config.lookback),
            IndicatorSpec(name="volatility", period=self.config.volatility_period),
        ]

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray:
        """Bars where some asset's trailing return is in the buy zone (above entry_return) or
        the sell zone (below exit_return), worked out as ``signals`` does: the same floats."""
        sma_key, _ = self.indicator_keys
        sma, close = indicators[sma_key], indicators["close"]
        config, lookback = self.config, self.config.lookback
        zone = np.zeros(close.shape, dtype=bool)
        with np.errstate(invalid="ignore", divide="ignore"):  # NaN warming up: no signal
            past = close[:, 1:] - lookback * (sma[:, 1:] - sma[:, :-1])
            trailing = close[:, 1:] / past - 1.0
            zone[:, 1:] = (past > 0) & ((trailing > config.entry_return)
                                        | (trailing < config.exit_return))
        return zone.any(axis=0)

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        sma, volatility = self.indicator_keys
        config, lookback = self.config, self.config.lookback
        signals = []
        indicators, previous = snapshot.indicators, snapshot.previous_indicators
        for asset, bar in snapshot.bars.items():
            now = indicators.get(asset, {})
            sma_now, volatility_now = now.get(sma), now.get(volatility)
            sma_before = previous.get(asset, {}).get(sma)
            if sma_now is None or volatility_now is None or sma_before is None:
                continue  # warming up: needs lookback + 1 bars
            past_close = bar.close - lookback * (sma_now - sma_before)
            if past_close <= 0:
                continue
            trailing = bar.close / past_close - 1.0
            # The return decides first whether a buy or a sale could be due; the position,
            # the confidence and the wording are worked out only then.
            buy_zone, sell_zone = trailing > config.entry_return, trailing < config.exit_return
            if not (buy_zone or sell_zone):
                continue
            held = portfolio.quantity(asset)
            if buy_zone and held == 0:
                signals.append(Signal(
                    asset=asset, side=Side.BUY,
                    confidence=_confidence(trailing, volatility_now, lookback),
                    rationale=f"{lookback}-bar return {trailing:+.2%} above entry "
                    f"{config.entry_return:+.2%}",
                    notional_usd=portfolio.cash_usd,
                ))
            elif sell_zone and held > 0:
                signals.append(Signal(
                    asset=asset, side=Side.SELL,
                    confidence=_confidence(trailing, volatility_now, lookback),
                    rationale=f"{lookback}-bar return {trailing:+.2%} below exit "
                    f"{config.exit_return:+.2%}",
                    notional_usd=portfolio.position_value(asset), quantity=held,
                ))
        return signals


def _confidence(trailing: float, volatility: float, lookback: int) -> float:
    """0.5 plus the move's size in standard deviations of a lookback-long return, capped at 1."""
    spread = volatility * math.sqrt(lookback)
    if spread <= 0:
        return 0.5
    return min(1.0, 0.5 + abs(math.log1p(trailing)) / spread / 4)

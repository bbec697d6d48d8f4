"""Mean reversion on the z-score: buy a close stretched below its mean, sell once it is back.

z = (close - SMA) / population std over ``period`` bars, so ``z <= -entry_z`` is exactly a close
at or under the lower Bollinger band of width ``entry_z``. Long only; asks for all cash on entry
(the risk agent sizes it), sells the whole position on the way back to the mean or on a stop.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, register
from core.models import MarketSnapshot, PortfolioState, SentimentReading, Side


class MeanReversionConfig(StrategyConfig):
    period: int = Field(default=20, ge=2, description="Bars in the mean and standard deviation")
    entry_z: float = Field(
        default=2.0, gt=0, le=10, allow_inf_nan=False,
        description="Buy when the close is this many standard deviations below the mean "
        "(the lower Bollinger band with k = entry_z)",
    )
    exit_z: float = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=0.0, le=10, allow_inf_nan=False,
        description="Sell when the z-score is back up to this (0: at the mean)",
    )
    stop_z: float | None = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=None, gt=0, allow_inf_nan=False,
        description="Sell at a loss when the close falls this many deviations below the mean, "
        "and buy nothing that far down (none: no stop)",
    )

    @field_validator("exit_z")
    @classmethod
    def _exit_above_entry(cls, exit_z: float, info: ValidationInfo) -> float:
        entry = info.data.get("entry_z")
        if entry is not None and exit_z <= -entry:
            raise ValueError(f"exit_z ({exit_z:g}) must be above the entry level -entry_z "
                             f"({-entry:g})")
        return exit_z

    @field_validator("stop_z")
    @classmethod
    def _stop_beyond_entry(cls, stop_z: float | None, info: ValidationInfo) -> float | None:
        entry = info.data.get("entry_z")
        if stop_z is not None and entry is not None and stop_z <= entry:
            raise ValueError(f"stop_z ({stop_z:g}) must be beyond entry_z ({entry:g})")
        return stop_z


@register
class MeanReversion(Strategy):
    """Bollinger / z-score mean reversion: buy stretched lows, sell at the mean."""

    name = "mean_reversion"
    config_model = MeanReversionConfig
    config: MeanReversionConfig

    def required_indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec(name="zscore", period=self.config.period)]

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray:
        """Bars where some asset's z-score is in the buy zone (which holds the stop's: stop_z is
        beyond entry_z) or the sell zone: ``signals`` reads nothing else but the portfolio."""
        (key,) = self.indicator_keys
        z, config = indicators[key], self.config
        with np.errstate(invalid="ignore"):  # NaN while warming up compares False: no signal
            zone = (z <= -config.entry_z) | (z >= config.exit_z)
        return zone.any(axis=0)

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        (key,) = self.indicator_keys
        config = self.config
        signals = []
        for asset in snapshot.bars:
            z = snapshot.indicators.get(asset, {}).get(key)
            if z is None:
                continue  # warming up
            # The z-score decides first whether a buy or a sale could be due; the position is
            # looked up only then.
            stopped = config.stop_z is not None and z <= -config.stop_z
            buy_zone = z <= -config.entry_z and not stopped  # never buy what the stop would sell
            sell_zone = z >= config.exit_z or stopped
            if not (buy_zone or sell_zone):
                continue
            held = portfolio.quantity(asset)
            # Further from the threshold, surer; 0.5 at the threshold, 1 a full entry_z beyond.
            if held == 0 and buy_zone:
                signals.append(Signal(
                    asset=asset, side=Side.BUY,
                    confidence=min(1.0, 0.5 + (-z - config.entry_z) / config.entry_z / 2),
                    rationale=f"close {-z:.2f} std below its {config.period}-bar mean "
                    f"(entry at {config.entry_z:g})",
                    notional_usd=portfolio.cash_usd,
                ))
            elif held > 0 and sell_zone:
                reverted = z >= config.exit_z
                why = (f"z-score {z:+.2f} back to the exit level {config.exit_z:+g}" if reverted
                       else f"z-score {z:+.2f} past the stop at {-config.stop_z:+g}")
                signals.append(Signal(
                    asset=asset, side=Side.SELL, confidence=0.9 if reverted else 1.0,
                    rationale=why,
                    notional_usd=portfolio.position_value(asset), quantity=held,
                ))
        return signals

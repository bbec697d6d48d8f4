"""Dollar-cost averaging: a fixed amount of each asset every ``interval_bars`` bars.

A buy is skipped while the close is more than ``max_premium`` above the position's average entry
price (no averaging up into a rally), and while cash cannot pay for it. An optional take-profit
sells the whole position once the close is ``take_profit`` above the average entry. The schedule
is the bar count (tick), so it needs no clock and no indicator.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, entry_cut, register
from core.models import MarketSnapshot, PortfolioState, Position, SentimentReading, Side

SCHEDULED_CONFIDENCE = 0.6
"""A scheduled buy is a plan, not a forecast: confident enough to pass, never emphatic."""


class DcaConfig(StrategyConfig):
    amount_usd: float = Field(
        default=1_000.0, gt=0, allow_inf_nan=False, description="Cash spent on each asset per buy"
    )
    interval_bars: int = Field(default=24, ge=1, description="Bars between buys")
    max_premium: float = Field(
        default=0.10, ge=0, allow_inf_nan=False,
        description="Skip a buy while the close is more than this fraction above the average "
        "entry price (0.10 = 10%)",
    )
    take_profit: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Sell the whole position once the close is this fraction above the average "
        "entry price (none: never sell); the same as exits.take_profit, so set one of the two",
    )

    @model_validator(mode="after")
    def _one_take_profit(self) -> DcaConfig:
        if self.take_profit is not None and self.exits.take_profit is not None:
            raise ValueError("take_profit and exits.take_profit are both set; they sell the same "
                             "way, so set one")
        return self


@register
class Dca(Strategy):
    """Dollar-cost averaging: a fixed amount per interval, not while far above the entry."""

    name = "dca"
    config_model = DcaConfig
    config: DcaConfig

    def required_indicators(self) -> list[IndicatorSpec]:
        return []

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray | None:
        """The scheduled bars; any bar with a take-profit (it watches every close), or when
        no array tells the feed's length (the event loop always passes the closes)."""
        if self.config.take_profit is not None or not indicators:
            return None
        bars = next(iter(indicators.values())).shape[1]
        return np.arange(bars) % self.config.interval_bars == 0

    def warnings(self, *, cash_usd: float, entry_cap_usd: float) -> list[str]:
        amount = self.config.amount_usd
        if amount > cash_usd:
            return [(f"amount_usd ({amount:,.2f}) is more than the starting cash "
                     f"({cash_usd:,.2f}): a buy needs the whole amount in cash, so it never buys")]
        if amount > entry_cap_usd:
            return [entry_cut("amount_usd", amount, entry_cap_usd)]
        return []

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        config = self.config
        signals = []
        cash = portfolio.cash_usd
        due = snapshot.tick % config.interval_bars == 0
        for asset, bar in snapshot.bars.items():
            entry = _average_entry(portfolio.positions.get(asset))
            premium = bar.close / entry - 1.0 if entry else None
            if config.take_profit is not None and entry \
                    and bar.close >= entry * (1 + config.take_profit):
                signals.append(Signal(
                    asset=asset, side=Side.SELL, confidence=0.9,
                    rationale=f"close {premium:+.1%} over the average entry: take profit at "
                    f"{config.take_profit:+.1%}",
                    notional_usd=portfolio.position_value(asset),
                    quantity=portfolio.quantity(asset),
                ))
            elif due and (not entry or bar.close <= entry * (1 + config.max_premium)) \
                    and cash >= config.amount_usd:
                cash -= config.amount_usd
                where = "first buy" if premium is None else f"{premium:+.1%} vs average entry"
                signals.append(Signal(
                    asset=asset, side=Side.BUY, confidence=SCHEDULED_CONFIDENCE,
                    rationale=f"scheduled buy every {config.interval_bars} bars ({where})",
                    notional_usd=config.amount_usd,
                ))
            # else: not due, or the skip rule (too far above the average entry), or no cash
        return signals


def _average_entry(position: Position | None) -> float | None:
    """The position's average entry price; None when nothing is held."""
    if position is None or position.quantity <= 0 or position.avg_entry_price <= 0:
        return None
    return position.avg_entry_price

"""What the market looks like at a tick: bars, indicators, the phase, and the text scored."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_validator,
)

from core.models.base import Model, Price, Symbol


class AssetKind(StrEnum):
    VOLATILE = "volatile"
    STABLE = "stable"


class Asset(Model):
    symbol: Symbol
    kind: AssetKind = AssetKind.VOLATILE


class Bar(Model):
    """One OHLCV candle of one asset; ts is the bar's open time (UTC)."""

    asset: Symbol
    ts: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _range(self) -> Bar:
        if self.high < self.low:
            raise ValueError(f"high {self.high} < low {self.low}")
        return self


class MarketPhase(StrEnum):
    BULL = "bull"
    BEAR = "bear"
    SIDEWAYS = "sideways"
    UNKNOWN = "unknown"


IndicatorValues = dict[str, float | None]
"""Indicator name (e.g. ``sma_10``) to its value; None during warm-up."""


class MarketSnapshot(Model):
    """Everything MarketIntel knows at the close of bar ``tick``; nothing after it."""

    tick: int = Field(ge=0)
    ts: datetime
    bars: dict[str, Bar]
    indicators: dict[str, IndicatorValues] = Field(default_factory=dict)
    previous_indicators: dict[str, IndicatorValues] = Field(default_factory=dict)
    volatility: dict[str, float | None] = Field(
        default_factory=dict, description="Std of log returns per bar over a trailing window"
    )
    phase: MarketPhase = MarketPhase.UNKNOWN

    def price(self, asset: str) -> float:
        """Close of the asset's latest bar."""
        return self.bars[asset].close

    def closes(self) -> dict[str, float]:
        """Each asset's close. A backtest's snapshot (agents/snapshot_rows.py) builds its bars
        only when read, and gives these without building any."""
        closes = getattr(self.bars, "closes", None)
        return closes() if closes else {asset: bar.close for asset, bar in self.bars.items()}

    @field_serializer("bars", "indicators", "previous_indicators", "volatility", mode="wrap")
    def _plain(self, value: Any, plain: SerializerFunctionWrapHandler) -> Any:
        """A backtest's snapshot holds read-only mappings: serialised as the dicts they are."""
        return plain(value if isinstance(value, dict) else dict(value))


class Headline(Model):
    """One text item from a feed: untrusted data, scored and shown, never obeyed."""

    ts: datetime
    asset: str | None = Field(description="The asset it is about; None for market-wide")
    text: str


class SentimentReading(Model):
    """Scores of the text items published up to ``ts``: -1 (bearish) .. +1 (bullish)."""

    tick: int = Field(ge=0)
    ts: datetime
    per_asset: dict[str, float] = Field(default_factory=dict)
    mood: float = Field(ge=0, le=100, description="Fear (0) to greed (100)")
    items_scored: int = Field(ge=0)
    headlines: tuple[Headline, ...] = Field(
        default=(), description="The latest items scored, oldest first (what a reviewer reads)"
    )

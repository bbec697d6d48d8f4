"""Grid trading: buy a fixed size at each grid line the close falls through, sell it at each line
the close rises through, inside a price band that re-centres on the close when price breaks out.

The grid's one piece of memory is its centre per asset: set on the first close it sees, moved
only when a close leaves the band. It is a function of the closes seen so far, never of later ones;
a restarted strategy (a new object) starts a fresh grid on the next close. Crossings compare the
close with the previous bar's close (``sma_1``, from the snapshot's previous indicators).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from pydantic import Field

from agents.compute import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, register
from core.models import Bar, MarketSnapshot, PortfolioState, SentimentReading, Side

GRID_CONFIDENCE = 0.6
"""A grid fill is mechanical, not a forecast."""

PREVIOUS_CLOSE = IndicatorSpec(name="sma", period=1)
"""SMA over one bar is the close; its previous value is the previous close."""


class GridConfig(StrategyConfig):
    levels: int = Field(
        default=10, ge=2, le=500, description="Grid lines, evenly spaced from the band's bottom "
        "to its top"
    )
    band_width: float = Field(
        default=0.10, gt=0, lt=2, allow_inf_nan=False,
        description="Width of the band as a fraction of its centre: centre × (1 ± band_width/2)",
    )
    size_usd: float = Field(
        default=500.0, gt=0, allow_inf_nan=False,
        description="Cash bought at each line crossed downward; the same value is sold at each "
        "line crossed upward",
    )
    recentre_on_breakout: bool = Field(
        default=True, description="Centre a new band on a close that leaves the band; false: "
        "stay idle until the price comes back",
    )

    def lines(self, centre: float) -> np.ndarray:
        """The grid's prices around ``centre``, bottom to top."""
        half = self.band_width / 2
        return np.linspace(centre * (1 - half), centre * (1 + half), self.levels)


@register
class Grid(Strategy):
    """Grid trading in a price band, re-centred on breakout."""

    name = "grid"
    config_model = GridConfig
    config: GridConfig

    def __init__(self, config: GridConfig) -> None:
        super().__init__(config)
        self._centres: dict[str, float] = {}

    @property
    def centres(self) -> MappingProxyType[str, float]:
        """The current band centre of each asset seen so far (read only)."""
        return MappingProxyType(self._centres)

    def required_indicators(self) -> list[IndicatorSpec]:
        return [PREVIOUS_CLOSE]

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        signals = []
        for asset, bar in snapshot.bars.items():
            centre = self._centres.get(asset)
            if centre is None:
                self._centres[asset] = bar.close  # the grid starts here; nothing crossed yet
                continue
            previous = snapshot.previous_indicators.get(asset, {}).get(PREVIOUS_CLOSE.key)
            if previous is not None:
                signal = self._crossings(bar, previous, centre, portfolio)
                if signal is not None:
                    signals.append(signal)
            lines = self.config.lines(centre)
            if self.config.recentre_on_breakout and not lines[0] <= bar.close <= lines[-1]:
                self._centres[asset] = bar.close
        return signals

    def _crossings(
        self, bar: Bar, previous: float, centre: float, portfolio: PortfolioState
    ) -> Signal | None:
        """One buy for the lines the close fell through, or one sell for those it rose through."""
        lines = self.config.lines(centre)
        close, size = bar.close, self.config.size_usd
        fell = int(np.count_nonzero((close < lines) & (lines <= previous)))
        rose = int(np.count_nonzero((previous < lines) & (lines <= close)))
        band = f"band {lines[0]:,.6g}–{lines[-1]:,.6g} around {centre:,.6g}"
        if fell:
            notional = min(fell * size, portfolio.cash_usd)
            if notional <= 0:
                return None
            return Signal(
                asset=bar.asset, side=Side.BUY, confidence=GRID_CONFIDENCE,
                rationale=f"close fell through {fell} grid line(s) ({previous:,.6g} → "
                f"{close:,.6g}); {band}",
                notional_usd=notional,
            )
        held = portfolio.quantity(bar.asset)
        if rose and held > 0:
            quantity = min(held, rose * size / close)
            return Signal(
                asset=bar.asset, side=Side.SELL, confidence=GRID_CONFIDENCE,
                rationale=f"close rose through {rose} grid line(s) ({previous:,.6g} → "
                f"{close:,.6g}); {band}",
                notional_usd=quantity * close, quantity=quantity,
            )
        return None

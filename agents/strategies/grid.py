"""Grid trading: buy a fixed size at each grid line the close falls through, sell it at each line
the close rises through, inside a price band that re-centres on the close when price breaks out.

The grid's one piece of memory is its centre per asset: set on the first close it sees, moved
only when a close leaves the band. It is a function of the closes seen so far, never of later ones;
a restarted strategy (a new object) starts a fresh grid on the next close. Crossings compare the
close with the previous bar's close (``sma_1``, from the snapshot's previous indicators).
"""

from __future__ import annotations

from bisect import bisect_right
from types import MappingProxyType

import numpy as np
from pydantic import Field

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, entry_cut, register
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
        self._lines: dict[str, tuple[float, list[float]]] = {}
        """Per asset: (centre, its grid lines as floats), built again only when the centre moves."""

    @property
    def centres(self) -> MappingProxyType[str, float]:
        """The current band centre of each asset seen so far (read only)."""
        return MappingProxyType(self._centres)

    def required_indicators(self) -> list[IndicatorSpec]:
        return [PREVIOUS_CLOSE]

    def warnings(self, *, cash_usd: float, entry_cap_usd: float) -> list[str]:
        size = self.config.size_usd
        if size > entry_cap_usd:
            return [entry_cut("size_usd", size, entry_cap_usd)
                    + ", so a line crossed upward (selling size_usd) sells more than one crossed "
                    "downward bought"]
        return []

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
            lines = self._lines_around(asset, centre)
            previous = snapshot.previous_indicators.get(asset, {}).get(PREVIOUS_CLOSE.key)
            if previous is not None:
                signal = self._crossings(bar, previous, centre, lines, portfolio)
                if signal is not None:
                    signals.append(signal)
            if self.config.recentre_on_breakout and not lines[0] <= bar.close <= lines[-1]:
                self._centres[asset] = bar.close
        return signals

    def _lines_around(self, asset: str, centre: float) -> list[float]:
        """``config.lines(centre)`` as floats, kept while the asset's centre stays put."""
        cached = self._lines.get(asset)
        if cached is None or cached[0] != centre:
            cached = self._lines[asset] = (centre, self.config.lines(centre).tolist())
        return cached[1]

    def _crossings(
        self, bar: Bar, previous: float, centre: float, lines: list[float],
        portfolio: PortfolioState,
    ) -> Signal | None:
        """One buy for the lines the close fell through, or one sell for those it rose through."""
        close, size = bar.close, self.config.size_usd
        # The lines ascend (a linspace from centre × (1 - w/2) up to centre × (1 + w/2), the
        # centre a positive close), so bisect_right counts those at or below a price: the ones
        # in (close, previous] were fallen through, those in (previous, close] risen through.
        moved = bisect_right(lines, close) - bisect_right(lines, previous)
        fell, rose = max(0, -moved), max(0, moved)
        if fell:
            notional = min(fell * size, portfolio.cash_usd)
            if notional <= 0:
                return None
            return Signal(
                asset=bar.asset, side=Side.BUY, confidence=GRID_CONFIDENCE,
                rationale=f"close fell through {fell} grid line(s) ({previous:,.6g} → "
                f"{close:,.6g}); {_band(lines, centre)}",
                notional_usd=notional,
            )
        if not rose:
            return None
        held = portfolio.quantity(bar.asset)
        if held > 0:
            quantity = min(held, rose * size / close)
            return Signal(
                asset=bar.asset, side=Side.SELL, confidence=GRID_CONFIDENCE,
                rationale=f"close rose through {rose} grid line(s) ({previous:,.6g} → "
                f"{close:,.6g}); {_band(lines, centre)}",
                notional_usd=quantity * close, quantity=quantity,
            )
        return None


def _band(lines: list[float], centre: float) -> str:
    return f"band {lines[0]:,.6g}–{lines[-1]:,.6g} around {centre:,.6g}"

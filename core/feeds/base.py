"""The market-data container every feed produces and MarketIntel reads.

Arrays are float64 shaped (assets × bars) so the compute kernels take them as they are.
A MarketData never holds NaN or non-positive prices: feeds refuse such input before building one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from core.models import Bar


@dataclass(frozen=True, eq=False)
class MarketData:
    """Aligned OHLCV for several assets on one shared, strictly increasing time axis."""

    assets: tuple[str, ...]
    timestamps: np.ndarray  # int64 nanoseconds since the epoch, UTC, shape (bars,)
    open: np.ndarray  # float64, shape (assets, bars)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = "unknown"
    quote: str = "USD"
    notes: tuple[str, ...] = field(default=())
    """What the feed did to build this (alignment, gaps): shown to the user, never silent."""

    def __post_init__(self) -> None:
        shape = (len(self.assets), len(self.timestamps))
        for name in ("open", "high", "low", "close", "volume"):
            array = getattr(self, name)
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape}")

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    def index_of(self, asset: str) -> int:
        return self.assets.index(asset)

    def time(self, t: int) -> datetime:
        """Open time of bar ``t`` as an aware UTC datetime."""
        return datetime.fromtimestamp(int(self.timestamps[t]) / 1e9, tz=UTC)

    def times(self, start: int, stop: int) -> list[datetime]:
        """``time(t)`` for bars start..stop-1, in one pass."""
        return [datetime.fromtimestamp(ns / 1e9, tz=UTC)
                for ns in self.timestamps[start:stop].tolist()]

    def bar(self, asset: str, t: int) -> Bar:
        i = self.index_of(asset)
        return Bar(
            asset=asset,
            ts=self.time(t),
            open=float(self.open[i, t]),
            high=float(self.high[i, t]),
            low=float(self.low[i, t]),
            close=float(self.close[i, t]),
            volume=float(self.volume[i, t]),
        )

    def bar_seconds(self) -> float:
        """Median spacing of the bars, in seconds (NaN with fewer than two bars)."""
        if self.n_bars < 2:
            return float("nan")
        return float(np.median(np.diff(self.timestamps))) / 1e9

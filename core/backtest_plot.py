"""`quorum backtest --plot OUT`: price with buy/sell markers, equity, and drawdown, one image.

matplotlib with the Agg backend (no display needed), imported only when a plot is asked for.
Markers are the run's fills, each at its own time and price: every buy (an entry or adding to
a position) and every sell (a position still open at the end gets none).
It reads results only; it never runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from core.feeds.base import MarketData
from core.models import Fill, Side

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")
"""Image formats --plot writes, by the file's suffix."""


@dataclass(frozen=True)
class Drawn:
    """What the image shows, counted (printed by the CLI, checked by the tests)."""

    buys: int
    sells: int
    bars: int


def plot_backtest(
    path: Path,
    *,
    market: MarketData,
    equity: list[float],
    times: list[datetime],
    fills: list[Fill],
    title: str,
) -> Drawn:
    """Write the three-panel image to ``path``; raises OSError when it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (price_ax, equity_ax, drawdown_ax) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 8), height_ratios=(3, 2, 1), layout="constrained")
    try:
        bar_times = [market.time(t) for t in range(len(times))] if times else []
        rebase = len(market.assets) > 1  # several assets: each close rebased to 100
        for i, asset in enumerate(market.assets):
            close = market.close[i, : len(bar_times)]
            price_ax.plot(bar_times, 100 * close / close[0] if rebase else close,
                          linewidth=0.8, label=asset)
        buys, sells = _markers(fills, market=market, rebase=rebase)
        if buys[0]:
            price_ax.scatter(buys[0], buys[1], marker="^", color="tab:green", s=36,
                             zorder=3, label=f"buy ({len(buys[0])})")
        if sells[0]:
            price_ax.scatter(sells[0], sells[1], marker="v", color="tab:red", s=36,
                             zorder=3, label=f"sell ({len(sells[0])})")
        price_ax.set_ylabel("close (rebased to 100)" if rebase else f"price ({market.quote})")
        price_ax.legend(loc="best", fontsize="small")
        price_ax.set_title(title)

        curve = np.asarray(equity, dtype=float)
        equity_ax.plot(times, curve, color="tab:purple", linewidth=0.9)
        equity_ax.set_ylabel(f"equity ({market.quote})")
        drawdown = 100.0 * (curve / np.maximum.accumulate(curve) - 1.0) if curve.size else curve
        drawdown_ax.fill_between(times, drawdown, 0.0, color="tab:red", alpha=0.4, linewidth=0)
        drawdown_ax.set_ylabel("drawdown %")
        for ax in (price_ax, equity_ax, drawdown_ax):
            ax.grid(alpha=0.3)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Drawn(buys=len(buys[0]), sells=len(sells[0]), bars=len(times))


def _markers(fills: list[Fill], *, market: MarketData,
             rebase: bool) -> tuple[tuple[list, list], tuple[list, list]]:
    """(times, prices) of the buys and of the sells, in the price panel's units."""
    first_close = {a: float(market.close[i, 0]) for i, a in enumerate(market.assets)}
    buys: tuple[list, list] = ([], [])
    sells: tuple[list, list] = ([], [])
    for fill in fills:
        if fill.asset not in first_close:  # a lending receipt: no price line to mark on
            continue
        marks = buys if fill.side is Side.BUY else sells
        marks[0].append(fill.ts)
        marks[1].append(100 * fill.price / first_close[fill.asset] if rebase else fill.price)
    return buys, sells


"""Numba kernels behind ``core.kernels.indicators``: float64 in, float64 out, NaN in warm-up.

Every kernel is causal: ``out[t]`` reads ``x[0..t]`` and nothing after. The ``*_into`` kernels
fill one series; the ``*_2d`` kernels run them over rows (assets × bars) in parallel.
These trust their arguments; ``indicators.py`` validates them. Never call into Python from here.

The kernels live by family (``_moving``, ``_oscillators``, ``_volatility``, ``_volume``, with
shared window sums in ``_rolling``); this
module re-exports them and holds the dispatch over single-series, single-period indicators that
``batch_2d`` runs. Numba's disk cache tracks only the defining file: after editing a family
module, clear ``__pycache__`` (or touch this file) so the dispatch kernels recompile.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._moving import (
    ema_from_into,
    ema_into,
    macd_2d,
    macd_into,
    sma_into,
    wma_into,
)
from core.kernels._oscillators import (
    adx_2d,
    adx_into,
    crossover_2d,
    crossover_into,
    rsi_into,
    stoch_2d,
    stoch_into,
)
from core.kernels._rolling import rolling_moments_into, rolling_sum_into
from core.kernels._volatility import (
    atr_2d,
    atr_into,
    bollinger_2d,
    bollinger_into,
    max_drawdown_into,
    parkinson_2d,
    parkinson_into,
    volatility_into,
    zscore_into,
)
from core.kernels._volume import obv_2d, obv_into, vwap_2d, vwap_into

__all__ = [
    "adx_2d", "adx_into", "atr_2d", "atr_into", "batch_2d", "bollinger_2d", "bollinger_into",
    "crossover_2d", "crossover_into", "ema_from_into", "ema_into", "macd_2d", "macd_into",
    "max_drawdown_into", "obv_2d", "obv_into", "parkinson_2d", "parkinson_into",
    "rolling_moments_into", "rolling_sum_into", "rsi_into", "series_1d", "series_2d", "sma_into", "stoch_2d",
    "stoch_into", "volatility_into", "vwap_2d", "vwap_into", "wma_into", "zscore_into",
]  # fmt: skip

SMA = 0
EMA = 1
RSI = 2
WMA = 3
VOLATILITY = 4
ZSCORE = 5
MAX_DRAWDOWN = 6
"""Kind codes for ``batch_2d``; ``indicators.KINDS`` maps names to them."""


@njit(cache=True)
def _dispatch_into(kind, x, period, out):
    if kind == SMA:
        sma_into(x, period, out)
    elif kind == EMA:
        ema_into(x, period, out)
    elif kind == RSI:
        rsi_into(x, period, out)
    elif kind == WMA:
        wma_into(x, period, out)
    elif kind == VOLATILITY:
        volatility_into(x, period, out)
    elif kind == ZSCORE:
        zscore_into(x, period, out)
    else:
        max_drawdown_into(x, period, out)


@njit(cache=True)
def series_1d(kind, x, period):
    """One indicator of one series: a new array shaped like ``x``."""
    out = np.empty_like(x)
    _dispatch_into(kind, x, period, out)
    return out


@njit(cache=True, parallel=True)
def series_2d(kind, x, period):
    """One indicator of every row of ``x`` (assets × bars), rows in parallel."""
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        _dispatch_into(kind, x[i], period, out[i])
    return out


@njit(cache=True, parallel=True)
def batch_2d(x, kinds, periods):
    """Indicators ``(kinds[j], periods[j])`` of every row: shape (indicators, assets, bars)."""
    n_assets = x.shape[0]
    out = np.empty((kinds.shape[0], n_assets, x.shape[1]))
    for job in prange(kinds.shape[0] * n_assets):
        j = job // n_assets
        i = job % n_assets
        _dispatch_into(kinds[j], x[i], periods[j], out[j, i])
    return out

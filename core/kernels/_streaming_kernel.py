"""The one compiled call behind ``StreamingIndicators.update``: a new bar for every asset in,
every configured indicator advanced by one bar.

``layout`` has one row per indicator: kind code, up to three int parameters, state offset and
output offset; ``factors`` holds each one's float parameter (Bollinger's k). ``state`` is
(assets × width) and ``bar`` is (5 × assets): open, high, low, close, volume.
Trusts its arguments; ``streaming.py`` validates them. Never calls Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.kernels import _streaming_spread as spread
from core.kernels import _streaming_trend as trend

SMA, EMA, WMA, MACD, RSI, STOCH, ADX = 0, 1, 2, 3, 4, 5, 6
ATR, BOLLINGER, ZSCORE, VOLATILITY, PARKINSON, MAX_DRAWDOWN, OBV, VWAP = 7, 8, 9, 10, 11, 12, 13, 14
"""Kind codes for ``layout[:, 0]``."""


@njit(cache=True)
def _step(row, spec, factor, t, bar, a, out):
    kind, p, q, r, off, o = spec[0], spec[1], spec[2], spec[3], spec[4], spec[5]
    high, low, close, volume = bar[1, a], bar[2, a], bar[3, a], bar[4, a]
    if kind == SMA:
        trend.step_sma(row, off, p, t, close, out, o, a)
    elif kind == EMA:
        trend.step_ema(row, off, p, t, close, out, o, a)
    elif kind == WMA:
        trend.step_wma(row, off, p, t, close, out, o, a)
    elif kind == MACD:
        trend.step_macd(row, off, p, q, r, t, close, out, o, a)
    elif kind == RSI:
        trend.step_rsi(row, off, p, t, close, out, o, a)
    elif kind == STOCH:
        trend.step_stoch(row, off, p, q, t, high, low, close, out, o, a)
    elif kind == ADX:
        trend.step_adx(row, off, p, t, high, low, close, out, o, a)
    elif kind == ATR:
        spread.step_atr(row, off, p, t, high, low, close, out, o, a)
    elif kind == BOLLINGER:
        spread.step_bollinger(row, off, p, factor, t, close, out, o, a)
    elif kind == ZSCORE:
        spread.step_zscore(row, off, p, t, close, out, o, a)
    elif kind == VOLATILITY:
        spread.step_volatility(row, off, p, t, close, out, o, a)
    elif kind == PARKINSON:
        spread.step_parkinson(row, off, p, t, high, low, out, o, a)
    elif kind == MAX_DRAWDOWN:
        spread.step_max_drawdown(row, off, p, t, close, out, o, a)
    elif kind == OBV:
        spread.step_obv(row, off, t, close, volume, out, o, a)
    else:
        spread.step_vwap(row, off, p, t, high, low, close, volume, out, o, a)


@njit(cache=True)
def first_bad_asset(bar):
    """Index of the first asset whose bar has a non-finite or non-positive price, else -1."""
    for a in range(bar.shape[1]):
        for field in range(5):
            value = bar[field, a]
            if not np.isfinite(value) or (field < 4 and value <= 0.0) or value < 0.0:
                return a
    return -1


@njit(cache=True)
def update_all(state, t, layout, factors, bar, out):
    """Advance every indicator of every asset by the bar at index ``t``; values into ``out``.

    Returns -1, or the first bad asset's index, in which case nothing was changed.
    """
    bad = first_bad_asset(bar)
    if bad >= 0:
        return bad
    out[:] = np.nan
    for a in range(state.shape[0]):
        row = state[a]
        for j in range(layout.shape[0]):
            _step(row, layout[j], factors[j], t, bar, a, out)
    return -1


@njit(cache=True)
def advance(state, t, layout, factors, bars, out):
    """Feed ``bars`` (bars × 5 × assets) one by one from bar index ``t``; ``out`` gets the last.

    Returns (bars consumed, bad asset or -1): on a bad bar it stops before changing anything.
    """
    for i in range(bars.shape[0]):
        bad = update_all(state, t + i, layout, factors, bars[i], out)
        if bad >= 0:
            return i, bad
    return bars.shape[0], -1

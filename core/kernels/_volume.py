"""Volume kernels: on-balance volume and rolling VWAP, one series at a time.

Every kernel is causal (``out[t]`` reads bars ``0..t`` only), fills NaN during warm-up, trusts its
arguments (``indicators.py`` validates) and never calls back into Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._rolling import rolling_sum_into


@njit(cache=True)
def obv_into(close, volume, out):
    """On-balance volume starting at 0 on bar 0 (TA-Lib starts at ``volume[0]``)."""
    n = close.shape[0]
    if n == 0:
        return
    total = 0.0
    out[0] = total
    for t in range(1, n):
        if close[t] > close[t - 1]:
            total += volume[t]
        elif close[t] < close[t - 1]:
            total -= volume[t]
        out[t] = total


@njit(cache=True)
def vwap_into(high, low, close, volume, period, out):
    """Volume-weighted typical price (h+l+c)/3 over ``period`` bars; NaN where that volume is 0."""
    n = close.shape[0]
    out[:] = np.nan
    if n < period:
        return
    weighted = np.empty(n)
    for t in range(n):
        weighted[t] = (high[t] + low[t] + close[t]) / 3.0 * volume[t]
    traded = np.empty(n)
    rolling_sum_into(volume, period, traded)
    rolling_sum_into(weighted, period, out)
    for t in range(period - 1, n):
        # Exact 0 when nothing traded: the sums recompute windows that cancel.
        out[t] = out[t] / traded[t] if traded[t] > 0.0 else np.nan


@njit(cache=True, parallel=True)
def obv_2d(close, volume):
    """``obv_into`` over every row (assets × bars), rows in parallel."""
    out = np.empty_like(close)
    for i in prange(close.shape[0]):
        obv_into(close[i], volume[i], out[i])
    return out


@njit(cache=True, parallel=True)
def vwap_2d(high, low, close, volume, period):
    """``vwap_into`` over every row (assets × bars), rows in parallel."""
    out = np.empty_like(close)
    for i in prange(close.shape[0]):
        vwap_into(high[i], low[i], close[i], volume[i], period, out[i])
    return out

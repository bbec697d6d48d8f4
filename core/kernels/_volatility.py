"""Volatility and dispersion kernels: ATR, Bollinger bands, close-to-close and Parkinson
volatility, rolling z-score and rolling max drawdown, one series at a time.

Every kernel is causal (``out[t]`` reads bars ``0..t`` only), fills NaN during warm-up, trusts its
arguments (``indicators.py`` validates) and never calls back into Python.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from core.kernels._rolling import rolling_moments_into, rolling_sum_into


@njit(cache=True, fastmath={"contract"})  # FMA: ATR is compared relatively, never near 0
def atr_into(high, low, close, period, out):
    """Wilder ATR: the mean true range of bars 1..period at ``period``, then Wilder smoothing.

    The smoothing multiplies by precomputed (period-1)/period and 1/period instead of dividing,
    which keeps a division off the bar-to-bar dependency chain (values agree with TA-Lib's
    divide-form to ~1e-15 relative).
    """
    n = close.shape[0]
    out[: min(n, period)] = np.nan
    if n <= period:
        return
    value = 0.0
    for t in range(1, period + 1):
        prior = close[t - 1]
        value += max(high[t] - low[t], abs(high[t] - prior), abs(low[t] - prior))
    value /= period
    out[period] = value
    keep = (period - 1.0) / period
    share = 1.0 / period
    for t in range(period + 1, n):
        prior = close[t - 1]
        true_range = max(high[t] - low[t], abs(high[t] - prior), abs(low[t] - prior))
        value = value * keep + true_range * share
        out[t] = value


@njit(cache=True)
def bollinger_into(x, period, k, upper, middle, lower):
    """SMA middle band ± ``k`` population standard deviations; first at ``period - 1``."""
    rolling_moments_into(x, period, middle, upper, lower)
    for t in range(x.shape[0]):
        width = k * math.sqrt(upper[t] / period)
        upper[t] = middle[t] + width
        lower[t] = middle[t] - width


@njit(cache=True)
def zscore_into(x, period, out):
    """(x - window mean) / window population std; 0 where the window is flat; first at ``period - 1``."""
    spread = np.empty_like(x)
    mean = np.empty_like(x)
    rolling_moments_into(x, period, mean, spread, out)
    for t in range(period - 1, x.shape[0]):
        std = math.sqrt(spread[t] / period)
        out[t] = 0.0 if std == 0.0 else out[t] / std


@njit(cache=True)
def volatility_into(x, period, out):
    """Sample std (ddof=1) of the last ``period`` log returns; first at ``period``."""
    n = x.shape[0]
    out[:] = np.nan
    if n <= period:
        return
    returns = np.empty(n - 1)
    for t in range(1, n):
        # log1p of the exact difference keeps the digits of tiny returns that log(x / prior) loses.
        returns[t - 1] = math.log1p((x[t] - x[t - 1]) / x[t - 1])
    spread = np.empty(n - 1)
    scratch = np.empty(n - 1)
    rolling_moments_into(returns, period, out[1:], spread, scratch)
    for t in range(period, n):
        out[t] = math.sqrt(spread[t - 1] / (period - 1))


@njit(cache=True)
def parkinson_into(high, low, period, out):
    """Parkinson volatility: sqrt(mean of ln(high/low)^2 over ``period`` bars / (4 ln 2)); first at ``period - 1``."""
    n = high.shape[0]
    squared = np.empty(n)
    for t in range(n):
        ratio = math.log1p((high[t] - low[t]) / low[t])
        squared[t] = ratio * ratio
    rolling_sum_into(squared, period, out)
    scale = 1.0 / (4.0 * math.log(2.0) * period)
    for t in range(period - 1, n):
        out[t] = math.sqrt(max(out[t], 0.0) * scale)


@njit(cache=True)
def max_drawdown_into(x, period, out):
    """Largest peak-to-trough fall, as a fraction of the peak, inside each ``period``-bar window.

    0 when the window never falls; first at ``period - 1``. O(bars × period).
    """
    n = x.shape[0]
    out[:] = np.nan
    for t in range(period - 1, n):
        peak = x[t - period + 1]
        worst = 0.0
        for j in range(t - period + 2, t + 1):
            if x[j] > peak:
                peak = x[j]
            else:
                fall = 1.0 - x[j] / peak
                worst = max(worst, fall)
        out[t] = worst


@njit(cache=True, parallel=True)
def atr_2d(high, low, close, period):
    """``atr_into`` over every row (assets × bars), rows in parallel."""
    out = np.empty_like(close)
    for i in prange(close.shape[0]):
        atr_into(high[i], low[i], close[i], period, out[i])
    return out


@njit(cache=True, parallel=True)
def bollinger_2d(x, period, k):
    """``bollinger_into`` over every row (assets × bars), rows in parallel."""
    upper = np.empty_like(x)
    middle = np.empty_like(x)
    lower = np.empty_like(x)
    for i in prange(x.shape[0]):
        bollinger_into(x[i], period, k, upper[i], middle[i], lower[i])
    return upper, middle, lower


@njit(cache=True, parallel=True)
def parkinson_2d(high, low, period):
    """``parkinson_into`` over every row (assets × bars), rows in parallel."""
    out = np.empty_like(high)
    for i in prange(high.shape[0]):
        parkinson_into(high[i], low[i], period, out[i])
    return out

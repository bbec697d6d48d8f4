"""Numba kernels behind ``core.kernels.indicators``: float64 in, float64 out, NaN in warm-up.

Every kernel is causal: ``out[t]`` reads ``x[0..t]`` and nothing after. The ``*_into`` kernels
fill one series; the ``*_2d`` kernels run them over rows (assets × bars) in parallel.
These trust their arguments; ``indicators.py`` validates them. Never call into Python from here.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

SMA = 0
EMA = 1
RSI = 2
"""Kind codes for ``batch_2d``; ``indicators.KINDS`` maps names to them."""


@njit(cache=True)
def sma_into(x, period, out):
    """Simple moving average of ``x`` into ``out``; first value at ``period - 1``."""
    n = x.shape[0]
    out[:] = np.nan
    if n < period:
        return
    # Running sum with Kahan compensation, so long series do not drift.
    total = 0.0
    carry = 0.0
    for t in range(n):
        y = x[t] - carry
        s = total + y
        carry = (s - total) - y
        total = s
        if t >= period:
            y = -x[t - period] - carry
            s = total + y
            carry = (s - total) - y
            total = s
        if t >= period - 1:
            out[t] = total / period


@njit(cache=True)
def ema_into(x, period, out):
    """EMA seeded with the SMA of the first ``period`` values (TA-Lib), alpha = 2/(period+1)."""
    n = x.shape[0]
    out[:] = np.nan
    if n < period:
        return
    seed = 0.0
    for t in range(period):
        seed += x[t]
    value = seed / period
    out[period - 1] = value
    alpha = 2.0 / (period + 1.0)
    for t in range(period, n):
        value += alpha * (x[t] - value)
        out[t] = value


@njit(cache=True)
def _rsi_value(avg_gain, avg_loss):
    total = avg_gain + avg_loss
    if total == 0.0:
        return 50.0  # no movement at all: neutral (TA-Lib returns 0 here)
    return 100.0 * avg_gain / total


@njit(cache=True)
def rsi_into(x, period, out):
    """Wilder RSI; seed = mean gain/loss of the first ``period`` changes; first value at ``period``."""
    n = x.shape[0]
    out[:] = np.nan
    if n <= period:
        return
    avg_gain = 0.0
    avg_loss = 0.0
    for t in range(1, period + 1):
        change = x[t] - x[t - 1]
        if change > 0.0:
            avg_gain += change
        else:
            avg_loss -= change
    avg_gain /= period
    avg_loss /= period
    out[period] = _rsi_value(avg_gain, avg_loss)
    for t in range(period + 1, n):
        change = x[t] - x[t - 1]
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        avg_gain = (avg_gain * (period - 1) + gain) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
        out[t] = _rsi_value(avg_gain, avg_loss)


@njit(cache=True)
def _dispatch_into(kind, x, period, out):
    if kind == SMA:
        sma_into(x, period, out)
    elif kind == EMA:
        ema_into(x, period, out)
    else:
        rsi_into(x, period, out)


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

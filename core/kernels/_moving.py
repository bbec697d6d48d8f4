"""Moving-average kernels: SMA, EMA, WMA and MACD, one series at a time (TA-Lib conventions).

Every kernel is causal (``out[t]`` reads bars ``0..t`` only), fills NaN during warm-up, trusts its
arguments (``indicators.py`` validates) and never calls back into Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._rolling import _CANCELLED, window_sum

_SMA_RESEED_EVERY = 1024
"""Bars between exact recomputations of the SMA's running sum, which bounds its drift."""


@njit(cache=True)
def sma_into(x, period, out):
    """Simple moving average of ``x`` into ``out``; first value at ``period - 1``.

    A plain running sum (as TA-Lib keeps), recomputed exactly every _SMA_RESEED_EVERY bars and
    whenever an update cancels most of the window (a spike leaving), so error cannot build up.
    """
    n = x.shape[0]
    out[: min(n, period - 1)] = np.nan
    if n < period:
        return
    share = 1.0 / period
    total = window_sum(x, 0, period)
    out[period - 1] = total * share
    for t in range(period, n):
        old = x[t - period]
        new = x[t]
        total += new - old
        if (t % _SMA_RESEED_EVERY == 0
                or abs(total) < _CANCELLED * max(abs(old), abs(new))):
            total = window_sum(x, t - period + 1, t + 1)
        out[t] = total * share


@njit(cache=True)
def ema_from_into(x, start, period, out):
    """EMA whose first value, at ``start + period - 1``, is the SMA of ``x[start:start + period]``.

    Fills ``out`` from that index on and leaves the bars before it untouched.
    """
    n = x.shape[0]
    first = start + period - 1
    if first >= n:
        return
    seed = 0.0
    for t in range(start, first + 1):
        seed += x[t]
    value = seed / period
    out[first] = value
    alpha = 2.0 / (period + 1.0)
    keep = 1.0 - alpha
    for t in range(first + 1, n):
        value = value * keep + x[t] * alpha  # alpha·x is off the dependency chain
        out[t] = value


@njit(cache=True)
def ema_into(x, period, out):
    """EMA seeded with the SMA of the first ``period`` values (TA-Lib), alpha = 2/(period+1)."""
    out[:] = np.nan
    ema_from_into(x, 0, period, out)


@njit(cache=True)
def wma_into(x, period, out):
    """Linearly weighted moving average (weights 1..period, newest heaviest); first at ``period - 1``."""
    n = x.shape[0]
    out[:] = np.nan
    if n < period:
        return
    divider = period * (period + 1) / 2.0
    weighted = 0.0
    plain = 0.0
    for t in range(period - 1):
        weighted += x[t] * (t + 1)
        plain += x[t]
    trailing = 0.0
    for t in range(period - 1, n):
        # Same running update as TA-Lib: add the new bar at full weight, then age every bar by one.
        plain += x[t] - trailing
        weighted += x[t] * period
        trailing = x[t - period + 1]
        out[t] = weighted / divider
        weighted -= plain


@njit(cache=True)
def macd_into(x, fast, slow, signal, line, signal_out, hist):
    """MACD line, signal and histogram, TA-Lib alignment; all three start at ``slow + signal - 2``.

    The slow EMA is seeded at ``slow - 1`` with the SMA of the first ``slow`` bars; the fast EMA is
    seeded at the same bar with the SMA of the ``fast`` bars ending there (TA-Lib's MACD).
    """
    n = x.shape[0]
    line[:] = np.nan
    signal_out[:] = np.nan
    hist[:] = np.nan
    first_line = slow - 1
    first = first_line + signal - 1
    if first >= n:
        return
    # hist doubles as scratch for the slow EMA; line holds the fast EMA, then fast - slow.
    ema_from_into(x, 0, slow, hist)
    ema_from_into(x, slow - fast, fast, line)
    for t in range(first_line, n):
        line[t] -= hist[t]
    ema_from_into(line, first_line, signal, signal_out)
    for t in range(first_line, first):
        line[t] = np.nan
    for t in range(n):
        hist[t] = line[t] - signal_out[t]


@njit(cache=True, parallel=True)
def macd_2d(x, fast, slow, signal):
    """``macd_into`` over every row of ``x`` (assets × bars), rows in parallel."""
    line = np.empty_like(x)
    signal_out = np.empty_like(x)
    hist = np.empty_like(x)
    for i in prange(x.shape[0]):
        macd_into(x[i], fast, slow, signal, line[i], signal_out[i], hist[i])
    return line, signal_out, hist

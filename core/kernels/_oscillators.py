"""Oscillator kernels: RSI, stochastic, ADX with +DI/-DI, and crossovers, one series at a time.

Every kernel is causal (``out[t]`` reads bars ``0..t`` only), fills NaN during warm-up, trusts its
arguments (``indicators.py`` validates) and never calls back into Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _rsi_value(avg_gain, avg_loss):
    total = avg_gain + avg_loss
    if total == 0.0:
        return 50.0  # no movement at all: neutral (TA-Lib returns 0 here)
    return 100.0 * avg_gain / total


@njit(cache=True)
def rsi_into(x, period, out):
    """Wilder RSI; seed = mean gain/loss of the first ``period`` changes; first value at ``period``.

    Smoothing multiplies by precomputed (period-1)/period and 1/period (no division on the
    dependency chain); values agree with TA-Lib's divide-form to ~1e-15 relative.
    """
    n = x.shape[0]
    out[: min(n, period)] = np.nan
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
    keep = (period - 1.0) / period
    share = 1.0 / period
    for t in range(period + 1, n):
        change = x[t] - x[t - 1]
        avg_gain = avg_gain * keep + max(change, 0.0) * share
        avg_loss = avg_loss * keep + max(-change, 0.0) * share
        out[t] = _rsi_value(avg_gain, avg_loss)


@njit(cache=True)
def stoch_into(high, low, close, k_period, d_period, k_out, d_out):
    """Fast stochastic %K and its ``d_period`` SMA %D; both start at ``k_period + d_period - 2``.

    A window whose high equals its low gives %K = 50 (TA-Lib gives 0).
    """
    n = close.shape[0]
    k_out[:] = np.nan
    d_out[:] = np.nan
    first_k = k_period - 1
    first = first_k + d_period - 1
    if first >= n:
        return
    highest_at = 0
    lowest_at = 0
    for t in range(first_k, n):
        start = t - k_period + 1
        if highest_at < start or t == first_k:
            highest_at = start
            for j in range(start + 1, t + 1):
                if high[j] >= high[highest_at]:
                    highest_at = j
        elif high[t] >= high[highest_at]:
            highest_at = t
        if lowest_at < start or t == first_k:
            lowest_at = start
            for j in range(start + 1, t + 1):
                if low[j] <= low[lowest_at]:
                    lowest_at = j
        elif low[t] <= low[lowest_at]:
            lowest_at = t
        span = high[highest_at] - low[lowest_at]
        k_out[t] = 50.0 if span == 0.0 else 100.0 * (close[t] - low[lowest_at]) / span
    for t in range(first, n):
        total = 0.0
        for j in range(t - d_period + 1, t + 1):
            total += k_out[j]
        d_out[t] = total / d_period
    for t in range(first_k, first):
        k_out[t] = np.nan


@njit(cache=True)
def adx_into(high, low, close, period, adx_out, plus_out, minus_out):
    """Wilder ADX (first at ``2 * period - 1``) and +DI/-DI (first at ``period``), as TA-Lib computes.

    Directional movement and true range are summed over bars 1..period-1, then smoothed with
    ``s = s - s / period + today``. Where the smoothed range is 0 both DI are 0 and ADX keeps its
    previous value.
    """
    n = close.shape[0]
    adx_out[:] = np.nan
    plus_out[:] = np.nan
    minus_out[:] = np.nan
    if n <= period:
        return
    plus_dm = 0.0
    minus_dm = 0.0
    true_range = 0.0
    sum_dx = 0.0
    value = 0.0
    for t in range(1, n):
        up = high[t] - high[t - 1]
        down = low[t - 1] - low[t]
        tr = max(
            high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1])
        )
        if t >= period:
            plus_dm -= plus_dm / period
            minus_dm -= minus_dm / period
            true_range -= true_range / period
        if down > 0.0 and up < down:
            minus_dm += down
        elif up > 0.0 and up > down:
            plus_dm += up
        true_range += tr
        if t < period:
            continue
        dx = -1.0
        if true_range != 0.0:
            plus_di = 100.0 * plus_dm / true_range
            minus_di = 100.0 * minus_dm / true_range
            plus_out[t] = plus_di
            minus_out[t] = minus_di
            if plus_di + minus_di != 0.0:
                dx = 100.0 * abs(plus_di - minus_di) / (plus_di + minus_di)
        else:
            plus_out[t] = 0.0
            minus_out[t] = 0.0
        if t < 2 * period - 1:
            if dx >= 0.0:
                sum_dx += dx
        elif t == 2 * period - 1:
            if dx >= 0.0:
                sum_dx += dx
            value = sum_dx / period
            adx_out[t] = value
        else:
            if dx >= 0.0:
                value = (value * (period - 1) + dx) / period
            adx_out[t] = value


@njit(cache=True)
def crossover_into(a, b, out):
    """+1 where ``a`` crosses above ``b`` at t, -1 where it crosses below, else 0; NaN if undefined.

    Above: ``a[t] > b[t]`` and ``a[t-1] <= b[t-1]``; below mirrored. Bar 0, and any bar where one of
    the four values is NaN, is NaN.
    """
    n = a.shape[0]
    if n == 0:
        return
    out[0] = np.nan
    for t in range(1, n):
        now_a = a[t]
        now_b = b[t]
        was_a = a[t - 1]
        was_b = b[t - 1]
        if np.isnan(now_a) or np.isnan(now_b) or np.isnan(was_a) or np.isnan(was_b):
            out[t] = np.nan
        elif now_a > now_b and was_a <= was_b:
            out[t] = 1.0
        elif now_a < now_b and was_a >= was_b:
            out[t] = -1.0
        else:
            out[t] = 0.0


@njit(cache=True, parallel=True)
def stoch_2d(high, low, close, k_period, d_period):
    """``stoch_into`` over every row (assets × bars), rows in parallel."""
    k_out = np.empty_like(close)
    d_out = np.empty_like(close)
    for i in prange(close.shape[0]):
        stoch_into(high[i], low[i], close[i], k_period, d_period, k_out[i], d_out[i])
    return k_out, d_out


@njit(cache=True, parallel=True)
def adx_2d(high, low, close, period):
    """``adx_into`` over every row (assets × bars), rows in parallel."""
    adx_out = np.empty_like(close)
    plus_out = np.empty_like(close)
    minus_out = np.empty_like(close)
    for i in prange(close.shape[0]):
        adx_into(
            high[i], low[i], close[i], period, adx_out[i], plus_out[i], minus_out[i]
        )
    return adx_out, plus_out, minus_out


@njit(cache=True, parallel=True)
def crossover_2d(a, b):
    """``crossover_into`` over every row (assets × bars), rows in parallel."""
    out = np.empty_like(a)
    for i in prange(a.shape[0]):
        crossover_into(a[i], b[i], out[i])
    return out

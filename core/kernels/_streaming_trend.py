"""Streaming steps for moving averages and oscillators: SMA, EMA, WMA, MACD, RSI, stochastic, ADX.

A step advances one indicator of one asset by one bar. It owns the slice ``s[off:off + width]``
of that asset's state row (zeros before the first bar), gets ``t``, the index of the new bar
(0 for the first), and writes its outputs into ``out[o + j, a]`` once warmed up; the caller
fills ``out`` with NaN first. Window values are summed afresh from a ring buffer at every bar
(slot ``t % period``), so nothing drifts however long the stream runs. The arithmetic mirrors
the batch kernels and TA-Lib operation for operation. Trusts its arguments; never calls Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def ring_sum(s, off, n):
    """Sum of the ``n`` ring slots starting at ``s[off]``."""
    total = 0.0
    for j in range(n):
        total += s[off + j]
    return total


@njit(cache=True)
def ema_feed(s, i, period, m, x):
    """Feed value number ``m`` (0-based) of a series to the EMA kept in ``s[i]``; NaN in warm-up.

    ``s[i]`` sums the first ``period`` values, then holds the EMA seeded with their mean. The
    update is the same arithmetic as the batch kernel (``_moving.ema_from_into``), so values
    agree to the last bit, which a MACD line (a difference of two EMAs near zero) needs.
    """
    if m < period:
        s[i] += x
        if m < period - 1:
            return np.nan
        s[i] = s[i] / period
        return s[i]
    alpha = 2.0 / (period + 1.0)
    s[i] = s[i] * (1.0 - alpha) + x * alpha
    return s[i]


@njit(cache=True)
def step_sma(s, off, period, t, close, out, o, a):
    """Simple moving average; ring of ``period`` closes."""
    s[off + t % period] = close
    if t >= period - 1:
        out[o, a] = ring_sum(s, off, period) / period


@njit(cache=True)
def step_ema(s, off, period, t, close, out, o, a):
    """EMA seeded with the SMA of the first ``period`` closes (TA-Lib); one slot."""
    out[o, a] = ema_feed(s, off, period, t, close)


@njit(cache=True)
def step_wma(s, off, period, t, close, out, o, a):
    """Weighted moving average, weights 1..period with the newest heaviest; ring of closes."""
    s[off + t % period] = close
    if t < period - 1:
        return
    total = 0.0
    for j in range(period):  # oldest first: slot (t + 1 + j) % period has weight j + 1
        total += (j + 1) * s[off + (t + 1 + j) % period]
    out[o, a] = total / (period * (period + 1) / 2.0)


@njit(cache=True)
def step_macd(s, off, fast, slow, signal, t, close, out, o, a):
    """MACD line/signal/hist, TA-Lib alignment: the fast EMA is seeded on the bars ending at
    ``slow - 1``, like the slow one; all three outputs start at ``slow + signal - 2``."""
    slow_value = ema_feed(s, off, slow, t, close)
    if t < slow - fast:
        return
    fast_value = ema_feed(s, off + 1, fast, t - (slow - fast), close)
    if t < slow - 1:
        return
    line = fast_value - slow_value
    signal_value = ema_feed(s, off + 2, signal, t - (slow - 1), line)
    if t < slow + signal - 2:
        return
    out[o, a] = line
    out[o + 1, a] = signal_value
    out[o + 2, a] = line - signal_value


@njit(cache=True)
def step_rsi(s, off, period, t, close, out, o, a):
    """Wilder RSI (TA-Lib seeding); 50 when average gain and loss are both 0.
    Slots: previous close, average gain, average loss."""
    if t == 0:
        s[off] = close
        return
    change = close - s[off]
    s[off] = close
    if t <= period:
        if change > 0.0:
            s[off + 1] += change
        else:
            s[off + 2] -= change
        if t < period:
            return
        s[off + 1] /= period
        s[off + 2] /= period
    else:
        gain = max(0.0, change)
        loss = -change if change < 0.0 else 0.0
        s[off + 1] = (s[off + 1] * (period - 1) + gain) / period
        s[off + 2] = (s[off + 2] * (period - 1) + loss) / period
    total = s[off + 1] + s[off + 2]
    out[o, a] = 50.0 if total == 0.0 else 100.0 * s[off + 1] / total


@njit(cache=True)
def step_stoch(s, off, k_period, d_period, t, high, low, close, out, o, a):
    """TA-Lib STOCHF: %K over ``k_period`` bars, %D its ``d_period`` SMA; both from
    ``k_period + d_period - 2``; %K is 50 on a flat window (TA-Lib: 0), as in the batch kernel.
    Slots: ring of highs, ring of lows, ring of %K."""
    s[off + t % k_period] = high
    s[off + k_period + t % k_period] = low
    if t < k_period - 1:
        return
    highest = s[off]
    lowest = s[off + k_period]
    for j in range(1, k_period):
        highest = max(highest, s[off + j])
        lowest = min(lowest, s[off + k_period + j])
    span = highest - lowest
    fast_k = 50.0 if span == 0.0 else 100.0 * (close - lowest) / span
    m = t - (k_period - 1)
    s[off + 2 * k_period + m % d_period] = fast_k
    if m < d_period - 1:
        return
    out[o, a] = fast_k
    out[o + 1, a] = ring_sum(s, off + 2 * k_period, d_period) / d_period


@njit(cache=True)
def true_range(high, low, prior_close):
    """Largest of the bar's range and its distances from the previous close."""
    return max(high - low, abs(high - prior_close), abs(low - prior_close))


@njit(cache=True)
def step_adx(s, off, period, t, high, low, close, out, o, a):
    """TA-Lib ADX (from ``2 * period - 1``), +DI and -DI (from ``period``); both DI are 0 and
    ADX holds where the smoothed true range is 0.
    Slots: previous high, low, close; smoothed +DM, -DM, TR; DX sum, then ADX."""
    if t == 0:
        s[off], s[off + 1], s[off + 2] = high, low, close
        return
    diff_plus = high - s[off]
    diff_minus = s[off + 1] - low
    tr = true_range(high, low, s[off + 2])
    s[off], s[off + 1], s[off + 2] = high, low, close
    plus_dm = diff_plus if diff_plus > 0.0 and diff_plus > diff_minus else 0.0
    minus_dm = diff_minus if diff_minus > 0.0 and diff_plus < diff_minus else 0.0
    if t < period:
        s[off + 3] += plus_dm
        s[off + 4] += minus_dm
        s[off + 5] += tr
        return
    s[off + 3] = s[off + 3] - s[off + 3] / period + plus_dm
    s[off + 4] = s[off + 4] - s[off + 4] / period + minus_dm
    s[off + 5] = s[off + 5] - s[off + 5] / period + tr
    plus_di = 0.0
    minus_di = 0.0
    dx = np.nan
    if s[off + 5] != 0.0:
        plus_di = 100.0 * (s[off + 3] / s[off + 5])
        minus_di = 100.0 * (s[off + 4] / s[off + 5])
        both = minus_di + plus_di
        if both != 0.0:
            dx = 100.0 * (abs(minus_di - plus_di) / both)
    out[o + 1, a] = plus_di
    out[o + 2, a] = minus_di
    if t < 2 * period - 1:
        if not np.isnan(dx):
            s[off + 6] += dx
        return
    if t == 2 * period - 1:
        if not np.isnan(dx):
            s[off + 6] += dx
        s[off + 7] = s[off + 6] / period
    elif not np.isnan(dx):
        s[off + 7] = (s[off + 7] * (period - 1) + dx) / period
    out[o, a] = s[off + 7]

"""Streaming steps for volatility, dispersion and volume: ATR, Bollinger, close-to-close and
Parkinson volatility, z-score, rolling max drawdown, OBV and rolling VWAP.

Same contract as ``_streaming_trend``: a step owns ``s[off:off + width]`` of one asset's state row,
gets the new bar's index ``t`` and writes ``out[o + j, a]`` once warmed up. Window moments are
recomputed exactly (two passes) from the ring at every bar, so nothing drifts; a window of equal
values has exactly that value as mean and 0 as variance, as in the batch kernels.
Trusts its arguments; never calls Python.
"""

from __future__ import annotations

import math

from numba import njit

from core.kernels._streaming_trend import ring_sum, true_range


@njit(cache=True)
def ring_moments(s, off, n):
    """Mean and sum of squared deviations of the ``n`` ring slots from ``s[off]``, as
    ``(shift, mean - shift, m2)``: deviations are taken from ``shift = s[off]`` first, which is
    exact for nearby values, so ``x - mean`` keeps its digits however small it is."""
    shift = s[off]
    total = 0.0
    for j in range(n):
        total += s[off + j] - shift
    centre = total / n
    m2 = 0.0
    for j in range(n):
        deviation = (s[off + j] - shift) - centre
        m2 += deviation * deviation
    return shift, centre, m2


@njit(cache=True)
def step_atr(s, off, period, t, high, low, close, out, o, a):
    """Wilder ATR, TA-Lib seeding (mean true range of bars 1..period, first at ``period``).
    Slots: previous close, then the TR sum / ATR."""
    if t == 0:
        s[off] = close
        return
    tr = true_range(high, low, s[off])
    s[off] = close
    if t < period:
        s[off + 1] += tr
        return
    if t == period:
        s[off + 1] = (s[off + 1] + tr) / period
    else:
        s[off + 1] = (s[off + 1] * (period - 1) + tr) / period
    out[o, a] = s[off + 1]


@njit(cache=True)
def step_bollinger(s, off, period, k, t, close, out, o, a):
    """Upper, middle (SMA), lower: middle ± ``k`` population std; ring of closes."""
    s[off + t % period] = close
    if t < period - 1:
        return
    shift, centre, m2 = ring_moments(s, off, period)
    mean = shift + centre
    width = k * math.sqrt(m2 / period)
    out[o, a] = mean + width
    out[o + 1, a] = mean
    out[o + 2, a] = mean - width


@njit(cache=True)
def step_zscore(s, off, period, t, close, out, o, a):
    """(close - window mean) / window population std, 0 on a flat window; ring of closes."""
    s[off + t % period] = close
    if t < period - 1:
        return
    shift, centre, m2 = ring_moments(s, off, period)
    std = math.sqrt(m2 / period)
    out[o, a] = 0.0 if std == 0.0 else ((close - shift) - centre) / std


@njit(cache=True)
def step_volatility(s, off, period, t, close, out, o, a):
    """Sample std (ddof=1) of the last ``period`` log returns, first at ``period``.
    Slots: previous close, then a ring of log returns."""
    if t == 0:
        s[off] = close
        return
    # log1p of the exact difference keeps tiny returns accurate where log(close / prior) does not
    s[off + 1 + (t - 1) % period] = math.log1p((close - s[off]) / s[off])
    s[off] = close
    if t < period:
        return
    _, _, m2 = ring_moments(s, off + 1, period)
    out[o, a] = math.sqrt(m2 / (period - 1))


@njit(cache=True)
def step_parkinson(s, off, period, t, high, low, out, o, a):
    """sqrt(mean of ln(high/low)^2 over ``period`` bars / (4 ln 2)); ring of ln(high/low)^2."""
    ratio = math.log(high / low)
    s[off + t % period] = ratio * ratio
    if t < period - 1:
        return
    out[o, a] = math.sqrt(max(ring_sum(s, off, period), 0.0) * (1.0 / (4.0 * math.log(2.0) * period)))


@njit(cache=True)
def step_max_drawdown(s, off, period, t, close, out, o, a):
    """Largest peak-to-trough fall inside the last ``period`` closes, as a fraction of the peak."""
    s[off + t % period] = close
    if t < period - 1:
        return
    peak = s[off + (t + 1) % period]
    worst = 0.0
    for j in range(1, period):
        value = s[off + (t + 1 + j) % period]
        if value > peak:
            peak = value
        else:
            worst = max(worst, 1.0 - value / peak)
    out[o, a] = worst


@njit(cache=True)
def step_obv(s, off, t, close, volume, out, o, a):
    """On-balance volume from 0 on bar 0, as the batch kernel (TA-Lib starts at the first
    bar's volume). Slots: previous close, OBV."""
    if t == 0:
        s[off + 1] = 0.0
    elif close > s[off]:
        s[off + 1] += volume
    elif close < s[off]:
        s[off + 1] -= volume
    s[off] = close
    out[o, a] = s[off + 1]


@njit(cache=True)
def step_vwap(s, off, period, t, high, low, close, volume, out, o, a):
    """Volume-weighted typical price (h+l+c)/3 over ``period`` bars; NaN if they traded nothing.
    Slots: ring of price × volume, ring of volume."""
    s[off + t % period] = (high + low + close) / 3.0 * volume
    s[off + period + t % period] = volume
    if t < period - 1:
        return
    traded = ring_sum(s, off + period, period)
    if traded > 0.0:
        out[o, a] = ring_sum(s, off, period) / traded

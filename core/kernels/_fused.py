"""The Numba kernel behind ``core.kernels.fused``: the standard set in one pass per asset.

One loop over the bars of each asset updates every indicator's state at once, assets in
parallel. Causal: ``out[..., t]`` reads bars 0..t only. It trusts its arguments (``fused.py``
validates them), never allocates a bar-long array (the caller hands in one output block: numpy
maps large blocks on huge pages, Numba's allocator does not) and never calls into Python.

The two rolling windows (Bollinger over closes, volatility over log returns) keep running sums
of ``x - anchor``, where the anchor is the window's mean at the last exact recomputation: one
add per sum per bar, no dependency chain through a division. The sums are recomputed exactly
(two-pass, re-anchored) every RESYNC_BARS bars, which keeps the mean near the anchor (or
``s2 - s1²/n`` would cancel digits as prices trend away), and when the window's spread collapses
below RESYNC_DROP of its peak (a spike left: the sums still carry its rounding).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._moving import ema_from_into
from core.kernels._oscillators import _rsi_value  # one definition of the RSI-is-50 rule

EMA_FAST, EMA_SLOW, RSI, ATR, BB_UPPER, BB_MIDDLE, BB_LOWER, VOLATILITY = range(8)
N_OUTPUTS = 8
"""Positions of the outputs in the (N_OUTPUTS × assets × bars) block ``fused_2d`` fills."""

RESYNC_BARS = 256
"""Bars between exact recomputations of the rolling sums, which bounds slow drift."""

RESYNC_DROP = 1e-3
"""Recompute when the squared deviations fall below this fraction of their peak since the last
recompute: the rounding error of a large-variance window would otherwise swamp a quiet one."""


@njit(cache=True)
def _window_moments(x, end, period):
    """Mean and sum of squared deviations of ``x[end - period + 1 .. end]``, two-pass."""
    start = end - period + 1
    total = 0.0
    for t in range(start, end + 1):
        total += x[t]
    mean = total / period
    m2 = 0.0
    for t in range(start, end + 1):
        d = x[t] - mean
        m2 += d * d
    return mean, m2


@njit(cache=True)
def _anchored(x, end, period):
    """(anchor, s1, s2): the window's mean, and the sums of ``x - anchor`` and its square."""
    anchor, _ = _window_moments(x, end, period)
    s1 = 0.0
    s2 = 0.0
    for t in range(end - period + 1, end + 1):
        y = x[t] - anchor
        s1 += y
        s2 += y * y
    return anchor, s1, s2


@njit(cache=True)
def _run_length(x, t, cap):
    """How many values up to ``x[t]`` in a row equal it (at most ``cap``)."""
    run = 1
    while run < cap and t - run >= 0 and x[t - run] == x[t]:
        run += 1
    return run


@njit(cache=True)
def _std(m2, inv_divisor, run, period):
    """Std from squared deviations; exactly 0 when the whole window holds one value."""
    if run >= period or m2 <= 0.0:
        return 0.0
    return np.sqrt(m2 * inv_divisor)


@njit(cache=True)
def _returns_window(log_close, end, period, window):
    """Fill ``window`` with the ``period`` log returns ending at bar ``end``."""
    for j in range(period):
        t = end - period + 1 + j
        window[j] = log_close[t] - log_close[t - 1]


@njit(cache=True)
def _fused_row(high, low, close, log_close, p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol, out, i):
    """One asset: seeds and short catch-up loops up to the last warm-up bar, then one pass."""
    n = close.shape[0]
    o_fast, o_slow, o_rsi, o_atr = out[EMA_FAST, i], out[EMA_SLOW, i], out[RSI, i], out[ATR, i]
    o_up, o_mid, o_low = out[BB_UPPER, i], out[BB_MIDDLE, i], out[BB_LOWER, i]
    o_vol = out[VOLATILITY, i]
    # The last first-value index: from there on every indicator is in its steady state.
    last = max(p_fast - 1, p_slow - 1, p_rsi, p_atr, p_bb - 1, p_vol)
    stop = min(last + 1, n)
    # NaN only where an indicator is still warming up (the steady pass writes every later bar).
    for row in range(N_OUTPUTS):
        out[row, i, :stop] = np.nan
    a_fast = 2.0 / (p_fast + 1.0)
    a_slow = 2.0 / (p_slow + 1.0)
    keep_fast, keep_slow = 1.0 - a_fast, 1.0 - a_slow
    inv_rsi, decay_rsi = 1.0 / p_rsi, (p_rsi - 1.0) / p_rsi
    inv_atr, decay_atr = 1.0 / p_atr, (p_atr - 1.0) / p_atr
    inv_bb = 1.0 / p_bb
    inv_vol_div = 1.0 / (p_vol - 1.0)

    # The EMAs warm up in the batch kernel itself, so their values are the batch EMA's bits.
    ema_from_into(close[:stop], 0, p_fast, o_fast[:stop])
    ema_from_into(close[:stop], 0, p_slow, o_slow[:stop])
    fast = o_fast[stop - 1] if p_fast <= stop else 0.0
    slow = o_slow[stop - 1] if p_slow <= stop else 0.0

    avg_gain = 0.0
    avg_loss = 0.0
    if p_rsi < n:
        for t in range(1, p_rsi + 1):
            change = close[t] - close[t - 1]
            avg_gain += max(change, 0.0)
            avg_loss += max(-change, 0.0)
        avg_gain *= inv_rsi
        avg_loss *= inv_rsi
        o_rsi[p_rsi] = _rsi_value(avg_gain, avg_loss)
        for t in range(p_rsi + 1, stop):
            change = close[t] - close[t - 1]
            avg_gain = avg_gain * decay_rsi + max(change, 0.0) * inv_rsi
            avg_loss = avg_loss * decay_rsi + max(-change, 0.0) * inv_rsi
            o_rsi[t] = _rsi_value(avg_gain, avg_loss)

    atr = 0.0
    if p_atr < n:
        for t in range(1, p_atr + 1):
            atr += max(high[t], close[t - 1]) - min(low[t], close[t - 1])
        atr *= inv_atr
        o_atr[p_atr] = atr
        for t in range(p_atr + 1, stop):
            atr = atr * decay_atr + (max(high[t], close[t - 1]) - min(low[t], close[t - 1])) * inv_atr
            o_atr[t] = atr

    if p_bb <= n:
        for t in range(p_bb - 1, stop):
            mean, m2 = _window_moments(close, t, p_bb)
            std = _std(m2, inv_bb, _run_length(close, t, p_bb), p_bb)
            o_up[t], o_mid[t], o_low[t] = mean + k * std, mean, mean - k * std

    window = np.empty(p_vol)  # the returns in the volatility window, for exact recomputation
    if p_vol < n:
        for t in range(p_vol, stop):
            _returns_window(log_close, t, p_vol, window)
            _, m2 = _window_moments(window, p_vol - 1, p_vol)
            o_vol[t] = _std(m2, inv_vol_div, _run_length(window, p_vol - 1, p_vol), p_vol)
    if stop >= n:
        return

    # Steady state. Running sums about an anchor; see the module docstring.
    bb_anchor, bb_s1, bb_s2 = _anchored(close, stop - 1, p_bb)
    bb_peak = bb_s2 - bb_s1 * bb_s1 * inv_bb
    bb_run = _run_length(close, stop - 1, p_bb)
    _returns_window(log_close, stop - 1, p_vol, window)
    vol_anchor, vol_s1, vol_s2 = _anchored(window, p_vol - 1, p_vol)
    inv_vol = 1.0 / p_vol
    vol_peak = vol_s2 - vol_s1 * vol_s1 * inv_vol
    vol_run = _run_length(window, p_vol - 1, p_vol)
    previous_return = window[p_vol - 1]
    countdown = RESYNC_BARS
    for t in range(stop, n):
        c = close[t]
        prev = close[t - 1]
        fast = fast * keep_fast + c * a_fast  # as _moving.ema_from_into
        o_fast[t] = fast
        slow = slow * keep_slow + c * a_slow
        o_slow[t] = slow

        change = c - prev
        avg_gain = avg_gain * decay_rsi + max(change, 0.0) * inv_rsi
        avg_loss = avg_loss * decay_rsi + max(-change, 0.0) * inv_rsi
        o_rsi[t] = _rsi_value(avg_gain, avg_loss)
        atr = atr * decay_atr + (max(high[t], prev) - min(low[t], prev)) * inv_atr
        o_atr[t] = atr

        r = log_close[t] - log_close[t - 1]
        r_out = log_close[t - p_vol] - log_close[t - p_vol - 1]
        bb_run = bb_run + 1 if c == prev else 1
        vol_run = vol_run + 1 if r == previous_return else 1
        previous_return = r
        y_in = c - bb_anchor
        y_out = close[t - p_bb] - bb_anchor
        bb_s1 += y_in - y_out
        bb_s2 += (y_in - y_out) * (y_in + y_out)
        z_in = r - vol_anchor
        z_out = r_out - vol_anchor
        vol_s1 += z_in - z_out
        vol_s2 += (z_in - z_out) * (z_in + z_out)
        bb_m2 = bb_s2 - bb_s1 * bb_s1 * inv_bb
        vol_m2 = vol_s2 - vol_s1 * vol_s1 * inv_vol
        countdown -= 1
        if countdown == 0 or bb_m2 < bb_peak * RESYNC_DROP or vol_m2 < vol_peak * RESYNC_DROP:
            countdown = RESYNC_BARS
            bb_anchor, bb_s1, bb_s2 = _anchored(close, t, p_bb)
            _returns_window(log_close, t, p_vol, window)
            vol_anchor, vol_s1, vol_s2 = _anchored(window, p_vol - 1, p_vol)
            bb_m2 = bb_s2 - bb_s1 * bb_s1 * inv_bb
            vol_m2 = vol_s2 - vol_s1 * vol_s1 * inv_vol
            bb_peak = bb_m2
            vol_peak = vol_m2
        else:
            bb_peak = max(bb_peak, bb_m2)
            vol_peak = max(vol_peak, vol_m2)
        mean = bb_anchor + bb_s1 * inv_bb
        std = _std(bb_m2, inv_bb, bb_run, p_bb)
        o_up[t] = mean + k * std
        o_mid[t] = mean
        o_low[t] = mean - k * std
        o_vol[t] = _std(vol_m2, inv_vol_div, vol_run, p_vol)


@njit(cache=True, parallel=True)
def fused_2d(high, low, close, log_close, p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol, out):
    """Fill ``out`` (N_OUTPUTS × assets × bars) with the standard set of every row of the
    (assets × bars) inputs; ``log_close`` is ``np.log(close)`` (numpy's vectorised log)."""
    for i in prange(close.shape[0]):
        _fused_row(
            high[i], low[i], close[i], log_close[i], p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol,
            out, i,
        )

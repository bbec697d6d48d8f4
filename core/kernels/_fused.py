"""The Numba kernel behind ``core.kernels.fused``: the standard set in one pass per asset.

One loop over the bars of each asset updates every indicator's state at once, assets in
parallel. Causal: ``out[..., t]`` reads bars 0..t only. It trusts its arguments (``fused.py``
validates them) and never calls into Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._moving import ema_from_into
from core.kernels._oscillators import _rsi_value  # one definition of the RSI-is-50 rule

EMA_FAST, EMA_SLOW, RSI, ATR, BB_UPPER, BB_MIDDLE, BB_LOWER, VOLATILITY = range(8)
N_OUTPUTS = 8
"""Positions of the outputs in the list ``fused_2d`` returns."""

RESYNC_BARS = 1024
"""Rolling moments are recomputed exactly this often, so rounding cannot build up."""

RESYNC_DROP = 1e-4
"""They are also recomputed whenever the squared deviations fall below this fraction of their peak since the last
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
def _slide(mean, m2, x_in, x_out, inv_period):
    """Welford's update when ``x_in`` enters a window of fixed length and ``x_out`` leaves it."""
    delta = x_in - x_out
    old_mean = mean
    mean += delta * inv_period
    m2 += delta * (x_in - mean + x_out - old_mean)
    return mean, m2


@njit(cache=True)
def _rolling_moments(x, t, period, mean, m2, peak):
    """Slide the window to end at ``t``; recompute it exactly when rounding could matter."""
    mean, m2 = _slide(mean, m2, x[t], x[t - period], 1.0 / period)
    if m2 < peak * RESYNC_DROP:
        mean, m2 = _window_moments(x, t, period)
        peak = m2
    elif m2 > peak:
        peak = m2
    return mean, m2, peak


@njit(cache=True)
def _run_length(x, t, cap):
    """How many values up to ``x[t]`` in a row equal it (at most ``cap``)."""
    run = 1
    while run < cap and t - run >= 0 and x[t - run] == x[t]:
        run += 1
    return run


@njit(cache=True)
def _std(m2, divisor, run, period):
    """Std from squared deviations; exactly 0 when the whole window holds one value."""
    if run >= period or m2 <= 0.0:
        return 0.0
    return np.sqrt(m2 / divisor)


@njit(cache=True)
def _fused_row(high, low, close, p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol, out, i):
    """One asset: seeds and short catch-up loops up to the last warm-up bar, then one pass."""
    n = close.shape[0]
    o_fast, o_slow, o_rsi, o_atr = out[EMA_FAST][i], out[EMA_SLOW][i], out[RSI][i], out[ATR][i]
    o_up, o_mid, o_low = out[BB_UPPER][i], out[BB_MIDDLE][i], out[BB_LOWER][i]
    o_vol = out[VOLATILITY][i]
    # The last first-value index: from there on every indicator is in its steady state.
    last = max(p_fast - 1, p_slow - 1, p_rsi, p_atr, p_bb - 1, p_vol)
    stop = min(last + 1, n)
    # NaN only where an indicator is still warming up (the steady pass writes every later bar).
    for o in (o_fast, o_slow, o_rsi, o_atr, o_up, o_mid, o_low, o_vol):
        o[:stop] = np.nan
    a_fast = 2.0 / (p_fast + 1.0)
    a_slow = 2.0 / (p_slow + 1.0)
    keep_fast, keep_slow = 1.0 - a_fast, 1.0 - a_slow
    inv_rsi, decay_rsi = 1.0 / p_rsi, (p_rsi - 1.0) / p_rsi
    inv_atr, decay_atr = 1.0 / p_atr, (p_atr - 1.0) / p_atr
    vol_div = p_vol - 1.0

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

    bb_mean, bb_m2, bb_peak, bb_run = 0.0, 0.0, 0.0, 1
    if p_bb <= n:
        for t in range(p_bb - 1, stop):
            bb_mean, bb_m2 = _window_moments(close, t, p_bb)
            std = _std(bb_m2, p_bb, _run_length(close, t, p_bb), p_bb)
            o_up[t], o_mid[t], o_low[t] = bb_mean + k * std, bb_mean, bb_mean - k * std
        bb_peak = bb_m2
        bb_run = _run_length(close, stop - 1, p_bb)

    returns = np.empty(n)  # log returns; returns[0] is unused
    prev_log = np.log(close[0]) if n > 0 else 0.0
    for t in range(1, stop):
        log_c = np.log(close[t])
        returns[t] = log_c - prev_log
        prev_log = log_c
    vol_mean, vol_m2, vol_peak, vol_run = 0.0, 0.0, 0.0, 1
    if p_vol < n:
        for t in range(p_vol, stop):
            vol_mean, vol_m2 = _window_moments(returns, t, p_vol)
            o_vol[t] = _std(vol_m2, vol_div, _run_length(returns[1:], t - 1, p_vol), p_vol)
        vol_peak = vol_m2
        vol_run = _run_length(returns[1:], stop - 2, p_vol) if stop >= 2 else 1

    # One pass over the rest: every indicator is warm, no branches on warm-up.
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

        log_c = np.log(c)
        r = log_c - prev_log
        prev_log = log_c
        returns[t] = r
        bb_run = bb_run + 1 if c == prev else 1
        vol_run = vol_run + 1 if r == returns[t - 1] else 1
        countdown -= 1
        if countdown == 0:  # recompute exactly now and then so rounding cannot build up
            countdown = RESYNC_BARS
            bb_mean, bb_m2 = _window_moments(close, t, p_bb)
            vol_mean, vol_m2 = _window_moments(returns, t, p_vol)
            bb_peak, vol_peak = bb_m2, vol_m2
        else:
            bb_mean, bb_m2, bb_peak = _rolling_moments(close, t, p_bb, bb_mean, bb_m2, bb_peak)
            vol_mean, vol_m2, vol_peak = _rolling_moments(
                returns, t, p_vol, vol_mean, vol_m2, vol_peak
            )
        std = _std(bb_m2, p_bb, bb_run, p_bb)
        o_up[t] = bb_mean + k * std
        o_mid[t] = bb_mean
        o_low[t] = bb_mean - k * std
        o_vol[t] = _std(vol_m2, vol_div, vol_run, p_vol)


@njit(cache=True, parallel=True)
def fused_2d(high, low, close, p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol):
    """The standard set of every row (assets × bars): N_OUTPUTS arrays shaped like ``close``.

    Separate arrays, not one (N_OUTPUTS × assets × bars) block: a block that large is mapped
    fresh by the allocator on every call and pays a page fault per 4 KiB page.
    """
    out = [np.empty_like(close) for _ in range(N_OUTPUTS)]
    for i in prange(close.shape[0]):
        _fused_row(high[i], low[i], close[i], p_fast, p_slow, p_rsi, p_atr, p_bb, k, p_vol, out, i)
    return out

"""Rolling-window building blocks shared by the indicator kernels: sums and moments.

Running updates are fast but lose digits when a large value leaves a window of small ones (a
price spike, a volume burst). Both kernels notice that cancellation and recompute the window
exactly, so a value never carries the error of a bar that already left. Causal, NaN in warm-up.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_CANCELLED = 1e-3
"""Recompute a window exactly when an update shrinks it below this fraction of its inputs."""

_EXACT_UP_TO = 16
"""Windows this short are recomputed exactly (two-pass) at every bar: as cheap as an update."""

_RESEED_EVERY = 256
"""Bars between exact recomputations of the rolling moments, which bounds slow drift."""


@njit(cache=True)
def window_sum(x, start, stop):
    """Compensated (Kahan) sum of ``x[start:stop]``."""
    total = 0.0
    carry = 0.0
    for j in range(start, stop):
        y = x[j] - carry
        s = total + y
        carry = (s - total) - y
        total = s
    return total


@njit(cache=True)
def rolling_sum_into(x, period, out):
    """Sum of each ``period``-bar window into ``out``; first value at ``period - 1``."""
    n = x.shape[0]
    out[:] = np.nan
    if n < period:
        return
    total = window_sum(x, 0, period)
    carry = 0.0
    out[period - 1] = total
    for t in range(period, n):
        old = x[t - period]
        new = x[t]
        y = (new - old) - carry
        s = total + y
        carry = (s - total) - y
        total = s
        if abs(total) < _CANCELLED * max(abs(old), abs(new)):
            total = window_sum(x, t - period + 1, t + 1)
            carry = 0.0
        out[t] = total


@njit(cache=True)
def _window_moments(x, start, stop, anchor):
    """Mean of ``x[start:stop] - anchor`` and the sum of squared deviations, two-pass."""
    mean = 0.0
    for j in range(start, stop):
        mean += x[j] - anchor
    mean /= stop - start
    m2 = 0.0
    for j in range(start, stop):
        deviation = x[j] - anchor - mean
        m2 += deviation * deviation
    return mean, m2


@njit(cache=True)
def rolling_moments_into(x, period, mean, m2, deviation):
    """Mean, sum of squared deviations and ``x[t] - mean`` of each ``period``-bar window.

    All three start at ``period - 1``.

    Rolling Welford updates on ``x - anchor``, where the anchor is a recent bar, so rounding
    scales with how far prices moved rather than with their level. Recomputed exactly (and
    re-anchored) when ``m2`` collapses (an outlier left) and every ``_RESEED_EVERY`` bars; a
    window of equal values gets its value as mean and exactly 0 as ``m2``.
    """
    n = x.shape[0]
    mean[:] = np.nan
    m2[:] = np.nan
    deviation[:] = np.nan
    if n < period:
        return
    run = 1  # how many bars up to t are equal to x[t]
    for t in range(1, period):
        run = run + 1 if x[t] == x[t - 1] else 1
    anchor = x[period - 1]
    value, spread = _window_moments(x, 0, period, anchor)
    inv_period = 1.0 / period  # a multiply, not a divide, in the loop-carried chain
    for t in range(period - 1, n):
        if t >= period:
            run = run + 1 if x[t] == x[t - 1] else 1
            old = x[t - period] - anchor
            new = x[t] - anchor
            previous_value = value
            previous_spread = spread
            value = previous_value + (new - old) * inv_period
            spread += (new - old) * (new - value + old - previous_value)
            if (period <= _EXACT_UP_TO or t % _RESEED_EVERY == 0
                    or spread < _CANCELLED * previous_spread):
                anchor = x[t]
                value, spread = _window_moments(x, t - period + 1, t + 1, anchor)
        if run >= period:
            mean[t] = x[t]
            m2[t] = 0.0
            deviation[t] = 0.0
        else:
            mean[t] = anchor + value
            deviation[t] = (x[t] - anchor) - value
            m2[t] = max(0.0, spread)

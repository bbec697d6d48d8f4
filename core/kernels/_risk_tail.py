"""Numba kernels behind the VaR and CVaR functions of ``core.kernels.risk``.

A portfolio's return at bar t is ``sum_i weights[i] * returns[i, t]``; its loss is the negated
return, so losses come out positive. Bars where any asset's return is NaN are skipped.
Quantiles follow numpy's default ``method="linear"``. These trust their arguments.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from core.kernels._risk_cov import complete_bars


@njit(cache=True)
def portfolio_losses(returns, weights):
    """Loss ``-(weights · returns[:, t])`` per bar; NaN where a bar is incomplete."""
    n_assets, n_bars = returns.shape
    complete = complete_bars(returns)
    losses = np.full(n_bars, np.nan)
    for t in range(n_bars):
        if complete[t]:
            total = 0.0
            for i in range(n_assets):
                total += weights[i] * returns[i, t]
            losses[t] = -total
    return losses


@njit(cache=True)
def _lerp(low, high, fraction):
    # numpy's _lerp: exact at both ends and monotone in fraction.
    step = high - low
    if fraction >= 0.5:
        return high - step * (1.0 - fraction)
    return low + step * fraction


@njit(cache=True)
def quantile_sorted(ordered, alpha):
    """numpy ``quantile(..., method="linear")`` of an ascending, non-empty array."""
    position = (ordered.shape[0] - 1) * alpha
    below = int(np.floor(position))
    if below >= ordered.shape[0] - 1:
        return ordered[ordered.shape[0] - 1]
    return _lerp(ordered[below], ordered[below + 1], position - below)


@njit(cache=True)
def historical_tail(losses, alpha):
    """(VaR, CVaR) of the finite ``losses``: the alpha-quantile and the mean at or beyond it.

    CVaR is computed as VaR plus the mean excess, so CVaR >= VaR holds in floating point too.
    """
    ordered = np.sort(losses[np.isfinite(losses)])
    if ordered.shape[0] == 0:
        return np.nan, np.nan
    var = quantile_sorted(ordered, alpha)
    excess = 0.0
    count = 0
    for k in range(ordered.shape[0]):
        if ordered[k] >= var:
            excess += ordered[k] - var
            count += 1
    return var, var + excess / count


@njit(cache=True)
def mean_std(losses):
    """Mean and sample standard deviation (ddof=1) of the finite ``losses``, two-pass."""
    kept = losses[np.isfinite(losses)]
    count = kept.shape[0]
    if count == 0:
        return np.nan, np.nan
    mean = kept.sum() / count
    if count < 2:
        return mean, np.nan
    spread = 0.0
    for k in range(count):
        spread += (kept[k] - mean) ** 2
    return mean, np.sqrt(spread / (count - 1.0))


@njit(cache=True, parallel=True)
def rolling_historical_tail(losses, window, alpha):
    """Historical (VaR, CVaR) of each window of ``window`` finite losses ending at bar t."""
    n_bars = losses.shape[0]
    var = np.full(n_bars, np.nan)
    cvar = np.full(n_bars, np.nan)
    runs = np.zeros(n_bars, dtype=np.int64)
    for t in range(n_bars):
        if np.isfinite(losses[t]):
            runs[t] = runs[t - 1] + 1 if t > 0 else 1
    for t in prange(n_bars):
        if runs[t] >= window:
            var[t], cvar[t] = historical_tail(losses[t - window + 1 : t + 1], alpha)
    return var, cvar

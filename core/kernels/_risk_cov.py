"""Numba kernels behind the covariance and correlation functions of ``core.kernels.risk``.

Returns are float64 shaped (assets × bars); results are stacks shaped (bars × assets × assets).
A bar is *complete* when every asset's return is finite; an incomplete bar (NaN, e.g. the first
bar of ``log_returns``) yields NaN and restarts every window and recursion. Every kernel is
causal: ``out[t]`` reads bars 0..t only. These trust their arguments; ``risk.py`` validates.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CANCELLATION = 1e-4
"""Recompute a window exactly when a variance drops below this fraction of its recent peak:
the sliding update's error scales with the peak, so each drop of 10x costs one digit."""


@njit(cache=True, parallel=True)
def log_returns(close):
    """``log(close[:, t] / close[:, t - 1])`` per row; the first bar is NaN."""
    out = np.empty_like(close)
    for i in prange(close.shape[0]):
        if close.shape[1] > 0:
            out[i, 0] = np.nan
        for t in range(1, close.shape[1]):
            ratio = close[i, t] / close[i, t - 1]
            if 0.0 < ratio < np.inf:
                out[i, t] = np.log(ratio)
            else:  # the ratio over- or underflowed: extreme prices
                out[i, t] = np.log(close[i, t]) - np.log(close[i, t - 1])
    return out


@njit(cache=True)
def complete_bars(returns):
    """``True`` at each bar where every asset's return is finite."""
    n_assets, n_bars = returns.shape
    complete = np.ones(n_bars, dtype=np.bool_)
    for t in range(n_bars):
        for i in range(n_assets):
            if not np.isfinite(returns[i, t]):
                complete[t] = False
                break
    return complete


@njit(cache=True)
def constant_runs(returns):
    """Per asset, how many bars up to t in a row hold exactly the same value."""
    n_assets, n_bars = returns.shape
    runs = np.zeros((n_assets, n_bars), dtype=np.int64)
    for i in range(n_assets):
        for t in range(n_bars):
            same = t > 0 and returns[i, t] == returns[i, t - 1]
            runs[i, t] = runs[i, t - 1] + 1 if same else 1
    return runs


@njit(cache=True)
def _exact_row(returns, i, first, last, mean, row, diag):
    """Means, co-moments of asset ``i`` and every asset's own co-moment over first..last."""
    n_assets = returns.shape[0]
    count = last - first + 1
    for j in range(n_assets):
        total = 0.0
        for t in range(first, last + 1):
            total += returns[j, t]
        mean[j] = total / count
    for j in range(n_assets):
        cross = 0.0
        own = 0.0
        for t in range(first, last + 1):
            d_j = returns[j, t] - mean[j]
            cross += (returns[i, t] - mean[i]) * d_j
            own += d_j * d_j
        row[j] = cross
        diag[j] = own


@njit(cache=True)
def _slide_row(returns, i, old, new, window, mean, row, diag):
    """Welford step: drop bar ``old`` then add bar ``new``, keeping ``window`` bars.

    Products are written ``f * (e_i * e_j)`` so row i and row j stay bit-for-bit symmetric.
    """
    n_assets = returns.shape[0]
    shrink = window / (window - 1.0)
    grow = (window - 1.0) / window
    e_i = returns[i, old] - mean[i]
    for j in range(n_assets):
        e_j = returns[j, old] - mean[j]
        row[j] -= shrink * (e_i * e_j)
        diag[j] -= shrink * (e_j * e_j)
        mean[j] -= e_j / (window - 1.0)
    d_i = returns[i, new] - mean[i]
    for j in range(n_assets):
        d_j = returns[j, new] - mean[j]
        row[j] += grow * (d_i * d_j)
        diag[j] += grow * (d_j * d_j)
        mean[j] += d_j / window


@njit(cache=True)
def _cancelled(diag, peak):
    """Whether some variance fell far below its recent peak, so sliding lost its digits."""
    lost = False
    for j in range(diag.shape[0]):
        peak[j] = max(peak[j], diag[j])
        if diag[j] < CANCELLATION * peak[j]:
            lost = True
    return lost


@njit(cache=True, parallel=True)
def rolling_cov(returns, window):
    """Sample covariance (ddof=1) of the last ``window`` complete bars; NaN until full.

    Slides with Welford updates; recomputes exactly every ``window`` bars, and whenever a variance
    collapses (see ``CANCELLATION``), so rounding cannot drift. An asset whose window is exactly
    constant gets covariance exactly 0.
    """
    n_assets, n_bars = returns.shape
    out = np.full((n_bars, n_assets, n_assets), np.nan)
    complete = complete_bars(returns)
    runs = constant_runs(returns)
    for i in prange(n_assets):
        mean = np.zeros(n_assets)
        row = np.zeros(n_assets)
        diag = np.zeros(n_assets)
        peak = np.zeros(n_assets)
        start = 0
        for t in range(n_bars):
            if not complete[t]:
                start = t + 1
                continue
            length = t - start + 1
            if length < window:
                continue
            exact = (length - window) % window == 0
            if not exact:
                _slide_row(returns, i, t - window, t, window, mean, row, diag)
                exact = _cancelled(diag, peak)
            if exact:
                _exact_row(returns, i, t - window + 1, t, mean, row, diag)
                peak[:] = diag
            for j in range(n_assets):
                flat = runs[i, t] >= window or runs[j, t] >= window
                out[t, i, j] = 0.0 if flat else row[j] / (window - 1.0)
    return out


@njit(cache=True, parallel=True)
def ewma_cov(returns, lam):
    """RiskMetrics covariance ``S_t = lam S_{t-1} + (1 - lam) r_t r_tᵀ`` (zero mean).

    Seeded at the first complete bar of each run with ``S = r rᵀ`` (pandas ``adjust=False``).
    """
    n_assets, n_bars = returns.shape
    out = np.full((n_bars, n_assets, n_assets), np.nan)
    complete = complete_bars(returns)
    for i in prange(n_assets):
        seeded = False
        for t in range(n_bars):
            if not complete[t]:
                seeded = False
                continue
            for j in range(n_assets):
                product = returns[i, t] * returns[j, t]
                if seeded:
                    out[t, i, j] = lam * out[t - 1, i, j] + (1.0 - lam) * product
                else:
                    out[t, i, j] = product
            seeded = True
    return out


@njit(cache=True)
def _corr_into(cov, corr):
    n_assets = cov.shape[0]
    for i in range(n_assets):
        for j in range(n_assets):
            var_i = cov[i, i]
            var_j = cov[j, j]
            if not (var_i > 0.0 and var_j > 0.0):
                corr[i, j] = np.nan
            elif i == j:
                corr[i, j] = 1.0
            else:
                value = cov[i, j] / (
                    np.sqrt(var_i) * np.sqrt(var_j)
                )  # no overflow in var_i * var_j
                corr[i, j] = min(1.0, max(-1.0, value))


@njit(cache=True, parallel=True)
def cov_to_corr(cov_stack):
    """Correlations from a (bars × assets × assets) covariance stack.

    NaN where either variance is 0 or NaN (undefined); diagonal exactly 1 otherwise; clipped to
    [-1, 1] against rounding.
    """
    out = np.empty_like(cov_stack)
    for t in prange(cov_stack.shape[0]):
        _corr_into(cov_stack[t], out[t])
    return out


@njit(cache=True)
def sample_cov(returns):
    """Sample covariance (ddof=1) over the complete bars; NaN with fewer than two."""
    n_assets = returns.shape[0]
    complete = complete_bars(returns)
    kept = returns[:, complete]
    count = kept.shape[1]
    out = np.full((n_assets, n_assets), np.nan)
    if count < 2:
        return out
    runs = constant_runs(kept)
    mean = np.zeros(n_assets)
    row = np.zeros(n_assets)
    diag = np.zeros(n_assets)
    for i in range(n_assets):
        _exact_row(kept, i, 0, count - 1, mean, row, diag)
        for j in range(n_assets):
            flat = runs[i, count - 1] >= count or runs[j, count - 1] >= count
            out[i, j] = 0.0 if flat else row[j] / (count - 1.0)
    return out

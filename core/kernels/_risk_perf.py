"""Numba kernels behind the performance ratios and position sizes of ``core.kernels.risk``.

Row kernels take float64 (rows × bars) and return one value per row, rows in parallel.
NaN returns are skipped (missing bars); an undefined ratio (zero spread, too few bars) is NaN.
These trust their arguments; ``risk.py`` validates them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _max_drawdown_row(equity):
    peak = 0.0
    worst = 0.0
    for t in range(equity.shape[0]):
        peak = max(peak, equity[t])
        if peak > 0.0:
            worst = max(worst, 1.0 - equity[t] / peak)
    return worst


@njit(cache=True, parallel=True)
def max_drawdown(equity):
    """Largest fall from a running peak, as a fraction of that peak, per row (0 when none)."""
    out = np.full(equity.shape[0], np.nan)
    if equity.shape[1] == 0:
        return out
    for i in prange(equity.shape[0]):
        out[i] = _max_drawdown_row(equity[i])
    return out


@njit(cache=True)
def _excess_stats(returns, risk_free):
    """Mean, sample std (ddof=1) and downside deviation of finite ``returns - risk_free``."""
    kept = returns[np.isfinite(returns)] - risk_free
    count = kept.shape[0]
    if count < 2:
        return np.nan, np.nan, np.nan
    mean = kept.sum() / count
    spread = 0.0
    downside = 0.0
    for k in range(count):
        spread += (kept[k] - mean) ** 2
        if kept[k] < 0.0:
            downside += kept[k] ** 2
    return mean, np.sqrt(spread / (count - 1.0)), np.sqrt(downside / count)


@njit(cache=True, parallel=True)
def sharpe(returns, periods_per_year, risk_free):
    """Annualised mean excess return over its sample std, per row; NaN if the std is 0."""
    out = np.full(returns.shape[0], np.nan)
    for i in prange(returns.shape[0]):
        mean, std, _ = _excess_stats(returns[i], risk_free)
        if std > 0.0:
            out[i] = mean / std * np.sqrt(periods_per_year)
    return out


@njit(cache=True, parallel=True)
def sortino(returns, periods_per_year, risk_free):
    """Annualised mean excess return over its downside deviation, per row; NaN if that is 0."""
    out = np.full(returns.shape[0], np.nan)
    for i in prange(returns.shape[0]):
        mean, _, downside = _excess_stats(returns[i], risk_free)
        if downside > 0.0:
            out[i] = mean / downside * np.sqrt(periods_per_year)
    return out


@njit(cache=True, parallel=True)
def calmar(equity, periods_per_year):
    """Compound annual growth of ``equity`` over its max drawdown, per row; NaN if either is undefined."""
    n_rows, n_bars = equity.shape
    out = np.full(n_rows, np.nan)
    if n_bars < 2:
        return out
    for i in prange(n_rows):
        drawdown = _max_drawdown_row(equity[i])
        first = equity[i, 0]
        last = equity[i, n_bars - 1]
        if drawdown > 0.0 and first > 0.0:
            log_growth = np.log(last / first) * periods_per_year / (n_bars - 1)
            out[i] = np.expm1(log_growth) / drawdown
    return out


@njit(cache=True, parallel=True)
def beta(asset_returns, market_returns):
    """cov(asset, market) / var(market) over bars where both are finite, per asset row."""
    n_assets = asset_returns.shape[0]
    out = np.full(n_assets, np.nan)
    for i in prange(n_assets):
        both = np.isfinite(asset_returns[i]) & np.isfinite(market_returns)
        asset = asset_returns[i][both]
        market = market_returns[both]
        count = asset.shape[0]
        if count < 2:
            continue
        asset_mean = asset.sum() / count
        market_mean = market.sum() / count
        co = 0.0
        spread = 0.0
        for k in range(count):
            co += (asset[k] - asset_mean) * (market[k] - market_mean)
            spread += (market[k] - market_mean) ** 2
        if spread > 0.0:
            out[i] = co / spread
    return out


@njit(cache=True)
def vol_target_size(volatility, target_vol, max_leverage):
    """Fraction of equity ``min(target_vol / volatility, max_leverage)``; NaN stays NaN."""
    out = np.empty_like(volatility)
    for k in range(volatility.shape[0]):
        vol = volatility[k]
        if np.isnan(vol):
            out[k] = np.nan
        elif vol * max_leverage <= target_vol:
            out[k] = max_leverage  # also covers vol == 0
        else:
            out[k] = target_vol / vol
    return out


@njit(cache=True)
def kelly_size(mean, variance, cap):
    """Capped Kelly fraction ``clip(mean / variance, 0, cap)``; NaN stays NaN."""
    out = np.empty_like(mean)
    for k in range(mean.shape[0]):
        mu = mean[k]
        var = variance[k]
        if np.isnan(mu) or np.isnan(var):
            out[k] = np.nan
        elif mu <= 0.0:
            out[k] = 0.0
        elif mu >= cap * var:
            out[k] = cap  # also covers var == 0 with a positive edge
        else:
            out[k] = mu / var
    return out

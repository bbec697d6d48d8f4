"""Risk and portfolio measures for Quorum: numpy in, numpy out, compiled by Numba.

Shapes: prices, equity and returns are (bars,) for one asset or (assets × bars); weights are
(assets,); covariance and correlation stacks are (bars × assets × assets).

Conventions shared by every function here:
- Causal: a rolling value at bar t uses bars 0..t only; NaN while a window is filling.
- Returns may hold NaN for missing bars (``log_returns`` starts with one). A bar where any asset
  is NaN is *incomplete*: full-sample measures skip it, rolling windows and EWMA recursions
  restart after it. Infinite returns are refused.
- Sample statistics use ddof=1. A measure that is undefined (zero variance, too few bars) is NaN,
  never an exception; values beyond float64's range overflow to inf.
- Losses are positive: VaR 0.02 means "lose 2 % of the portfolio".

This module validates and shapes; ``_risk_cov``, ``_risk_tail`` and ``_risk_perf`` compute.
It never reads files or the clock.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from core.kernels import _risk_cov, _risk_perf, _risk_tail

# ---------------------------------------------------------------- returns, covariance


def log_returns(close: np.ndarray) -> np.ndarray:
    """``log(close[t] / close[t-1])`` along bars, same shape as ``close``; bar 0 is NaN."""
    prices = _positive_series(close, "close")
    return _rows_back(_risk_cov.log_returns(_rows(prices)), prices)


def rolling_cov(returns: np.ndarray, window: int) -> np.ndarray:
    """Sample covariance (ddof=1) of the last ``window`` complete bars, (bars × assets × assets).

    NaN until ``window`` complete bars have been seen in a row; an exactly constant window has
    covariance exactly 0.
    """
    return _risk_cov.rolling_cov(_returns(returns), _window(window))


def rolling_corr(returns: np.ndarray, window: int) -> np.ndarray:
    """Pearson correlation over the last ``window`` complete bars, (bars × assets × assets).

    In [-1, 1] with diagonal exactly 1; NaN in the row and column of an asset whose window is
    constant (zero variance: correlation undefined).
    """
    return _risk_cov.cov_to_corr(rolling_cov(returns, window))


def ewma_cov(returns: np.ndarray, lam: float = 0.94) -> np.ndarray:
    """RiskMetrics EWMA covariance, (bars × assets × assets).

    ``S_t = lam * S_{t-1} + (1 - lam) * r_t r_tᵀ`` with zero mean. Seeding: at the first complete
    bar (and the first after any incomplete one) ``S = r rᵀ``, which is pandas'
    ``ewm(alpha=1 - lam, adjust=False)`` of the products. No warm-up NaN beyond incomplete bars,
    but the first values rest on few bars.
    """
    return _risk_cov.ewma_cov(_returns(returns), _open_unit(lam, "lam"))


def ewma_corr(returns: np.ndarray, lam: float = 0.94) -> np.ndarray:
    """Correlation of ``ewma_cov``; same NaN and clipping rules as ``rolling_corr``."""
    return _risk_cov.cov_to_corr(ewma_cov(returns, lam))


def cov_matrix(returns: np.ndarray) -> np.ndarray:
    """Sample covariance (ddof=1) over all complete bars, (assets × assets); NaN if fewer than 2."""
    return _risk_cov.sample_cov(_returns(returns))


def corr_matrix(returns: np.ndarray) -> np.ndarray:
    """Pearson correlation over all complete bars, (assets × assets)."""
    return _risk_cov.cov_to_corr(cov_matrix(returns)[np.newaxis])[0]


# ---------------------------------------------------------------- VaR and CVaR


def var_historical(returns: np.ndarray, weights: np.ndarray, *, alpha: float = 0.95) -> float:
    """Historical VaR: the ``alpha`` quantile of portfolio losses (numpy ``method="linear"``).

    The portfolio return per bar is ``weights · returns[:, t]``, exact for simple returns and an
    approximation for log returns. Negative when even that quantile is a gain.
    """
    return _historical(returns, weights, alpha)[0]


def cvar_historical(returns: np.ndarray, weights: np.ndarray, *, alpha: float = 0.95) -> float:
    """Historical CVaR (expected shortfall): the mean of losses at or beyond ``var_historical``."""
    return _historical(returns, weights, alpha)[1]


def var_parametric(returns: np.ndarray, weights: np.ndarray, *, alpha: float = 0.95) -> float:
    """Normal VaR: ``-mu + sigma * z_alpha`` with the portfolio's sample mean and std (ddof=1).

    ``sigma² = wᵀ Σ w`` for Σ the sample covariance of the complete bars; NaN with fewer than two.
    """
    return _parametric(returns, weights, alpha)[0]


def cvar_parametric(returns: np.ndarray, weights: np.ndarray, *, alpha: float = 0.95) -> float:
    """Normal CVaR: ``-mu + sigma * pdf(z_alpha) / (1 - alpha)``, the mean loss beyond VaR."""
    return _parametric(returns, weights, alpha)[1]


def rolling_var_historical(
    returns: np.ndarray, weights: np.ndarray, *, window: int, alpha: float = 0.95
) -> np.ndarray:
    """``var_historical`` of each window of ``window`` complete bars ending at t, shape (bars,)."""
    return _rolling_historical(returns, weights, window, alpha)[0]


def rolling_cvar_historical(
    returns: np.ndarray, weights: np.ndarray, *, window: int, alpha: float = 0.95
) -> np.ndarray:
    """``cvar_historical`` of each window of ``window`` complete bars ending at t, shape (bars,)."""
    return _rolling_historical(returns, weights, window, alpha)[1]


# ---------------------------------------------------------------- performance


def max_drawdown(equity: np.ndarray) -> float | np.ndarray:
    """Largest fall from a running peak as a fraction of it, in [0, 1]; per asset if 2-D.

    Equity must be finite and >= 0; an empty series is NaN.
    """
    values = _equity(equity)
    return _per_row(_risk_perf.max_drawdown(_rows(values)), values)


def sharpe(
    returns: np.ndarray, periods_per_year: float, *, risk_free: float = 0.0
) -> float | np.ndarray:
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``; per asset if 2-D.

    ``risk_free`` is per bar, in the units of ``returns``. NaN returns are skipped; NaN when the
    std is 0 or fewer than two bars remain.
    """
    values = _returns(returns)
    out = _risk_perf.sharpe(
        values, _positive(periods_per_year, "periods_per_year"), _finite(risk_free, "risk_free")
    )
    return _per_row(out, np.asarray(returns))


def sortino(
    returns: np.ndarray, periods_per_year: float, *, risk_free: float = 0.0
) -> float | np.ndarray:
    """``mean(x) / sqrt(mean(min(x, 0)²)) * sqrt(periods_per_year)`` for ``x = r - risk_free``.

    Downside deviation is against a 0 target on excess returns, averaged over *all* bars
    (Sortino & Price; empyrical). NaN when no bar falls below the target.
    """
    values = _returns(returns)
    out = _risk_perf.sortino(
        values, _positive(periods_per_year, "periods_per_year"), _finite(risk_free, "risk_free")
    )
    return _per_row(out, np.asarray(returns))


def calmar(equity: np.ndarray, periods_per_year: float) -> float | np.ndarray:
    """Compound annual growth rate of ``equity`` divided by its ``max_drawdown``.

    Takes equity (not returns): CAGR = ``(equity[-1] / equity[0]) ** (periods_per_year /
    (bars - 1)) - 1``. NaN with no drawdown or fewer than two bars; +inf if the growth overflows
    float64; per asset if 2-D.
    """
    values = _equity(equity)
    out = _risk_perf.calmar(_rows(values), _positive(periods_per_year, "periods_per_year"))
    return _per_row(out, values)


def beta(asset_returns: np.ndarray, market_returns: np.ndarray) -> float | np.ndarray:
    """``cov(asset, market) / var(market)`` over bars where both are finite; per asset if 2-D."""
    assets = _returns(asset_returns, "asset_returns")
    market = _returns(market_returns, "market_returns")
    if market.shape[0] != 1 or market.shape[1] != assets.shape[1]:
        raise ValueError(
            f"market_returns must be 1-D with {assets.shape[1]} bars like asset_returns, "
            f"got shape {np.shape(market_returns)}"
        )
    return _per_row(_risk_perf.beta(assets, market[0]), np.asarray(asset_returns))


# ---------------------------------------------------------------- position sizing


def vol_target_size(
    volatility: float | np.ndarray, *, target_vol: float, max_leverage: float
) -> float | np.ndarray:
    """Fraction of equity to hold: ``min(target_vol / volatility, max_leverage)``.

    ``volatility`` and ``target_vol`` in the same units (e.g. annualised); volatility 0 gives
    ``max_leverage``; NaN volatility (warm-up) stays NaN, so callers must treat it as "no size".
    """
    vol = _non_negative_array(volatility, "volatility")
    out = _risk_perf.vol_target_size(
        np.ravel(vol).copy(),
        _positive(target_vol, "target_vol"),
        _positive(max_leverage, "max_leverage"),
    )
    return _scalar_or(out, vol)


def kelly_size(
    mean: float | np.ndarray, variance: float | np.ndarray, *, cap: float
) -> float | np.ndarray:
    """Capped Kelly fraction ``clip(mean / variance, 0, cap)``; NaN inputs stay NaN.

    A non-positive edge gives 0; a positive edge with zero variance gives ``cap``.
    """
    mu = np.asarray(mean, dtype=np.float64)
    var = _non_negative_array(variance, "variance")
    if np.isinf(mu).any():
        raise ValueError("mean must be finite or NaN")
    try:
        mu, var = np.broadcast_arrays(mu, var)
    except ValueError:
        raise ValueError(f"mean shape {mu.shape} and variance shape {var.shape} differ") from None
    cap_value = _finite(cap, "cap")
    if cap_value < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    out = _risk_perf.kelly_size(np.ravel(mu).copy(), np.ravel(var).copy(), cap_value)
    return _scalar_or(out, mu)


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel, so the first real call is fast."""
    close = np.vstack([np.linspace(1.0, 2.0, 8), np.linspace(2.0, 1.0, 8)])
    returns = log_returns(close)
    weights = np.array([0.5, 0.5])
    rolling_corr(returns, 3)
    ewma_corr(returns)
    corr_matrix(returns)
    for function in (var_historical, cvar_historical, var_parametric, cvar_parametric):
        function(returns, weights)
    rolling_cvar_historical(returns, weights, window=3)
    sharpe(returns, 365.0)
    sortino(returns, 365.0)
    calmar(close, 365.0)
    max_drawdown(close)
    beta(returns, returns[0])
    vol_target_size(np.array([0.1, 0.2]), target_vol=0.1, max_leverage=2.0)
    kelly_size(np.array([0.1]), np.array([0.2]), cap=0.5)


# ---------------------------------------------------------------- helpers


def _historical(returns, weights, alpha):
    losses = _losses(returns, weights)
    var, cvar = _risk_tail.historical_tail(losses, _open_unit(alpha, "alpha"))
    return float(var), float(cvar)


def _parametric(returns, weights, alpha):
    level = _open_unit(alpha, "alpha")
    mean_loss, sigma = _risk_tail.mean_std(_losses(returns, weights))
    z = NormalDist().inv_cdf(level)
    tail = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / (1.0 - level)
    return float(mean_loss + sigma * z), float(mean_loss + sigma * tail)


def _rolling_historical(returns, weights, window, alpha):
    losses = _losses(returns, weights)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    return _risk_tail.rolling_historical_tail(losses, int(window), _open_unit(alpha, "alpha"))


def _losses(returns, weights):
    values = _returns(returns)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (values.shape[0],):
        raise ValueError(
            f"weights must have shape ({values.shape[0]},), one per asset, got {w.shape}"
        )
    if not np.isfinite(w).all():
        raise ValueError(f"weights must be finite, got {w.tolist()}")
    return _risk_tail.portfolio_losses(values, w)


def _as_float_array(values, argument):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2):
        raise ValueError(
            f"{argument} must be 1-D (bars) or 2-D (assets × bars), got shape {array.shape}"
        )
    return np.ascontiguousarray(array)


def _rows(array):
    return array if array.ndim == 2 else array[np.newaxis, :]


def _rows_back(out, like):
    return out if like.ndim == 2 else out[0]


def _per_row(out, like):
    return out if np.ndim(like) == 2 else float(out[0])


def _scalar_or(out, like):
    return float(out[0]) if like.ndim == 0 else out.reshape(like.shape)


def _first_bad(mask):
    return tuple(int(k) for k in np.argwhere(mask)[0])


def _positive_series(values, argument):
    array = _as_float_array(values, argument)
    bad = ~(np.isfinite(array) & (array > 0))
    if bad.any():
        at = _first_bad(bad)
        raise ValueError(f"{argument}{list(at)} is {array[at]}; prices must be finite and > 0")
    return array


def _equity(values):
    array = _as_float_array(values, "equity")
    bad = ~(np.isfinite(array) & (array >= 0))
    if bad.any():
        at = _first_bad(bad)
        raise ValueError(f"equity{list(at)} is {array[at]}; equity must be finite and >= 0")
    return array


def _returns(values, argument="returns"):
    array = _rows(_as_float_array(values, argument))
    if np.isinf(array).any():
        at = _first_bad(np.isinf(array))
        shown = list(at) if np.ndim(values) == 2 else [at[1]]
        raise ValueError(f"{argument}{shown} is {array[at]}; returns must be finite or NaN")
    return array


def _non_negative_array(values, argument):
    array = np.asarray(values, dtype=np.float64)
    bad = np.isinf(array) | (array < 0)
    if bad.any():
        raise ValueError(f"{argument} must be >= 0 and finite (or NaN), got {array[bad][0]}")
    return array


def _window(window):
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an int, got {type(window).__name__}")
    if window < 2:
        raise ValueError(f"window must be >= 2 (ddof=1 needs two bars), got {window}")
    return int(window)


def _finite(value, argument):
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{argument} must be finite, got {value}")
    return number


def _positive(value, argument):
    number = _finite(value, argument)
    if number <= 0:
        raise ValueError(f"{argument} must be > 0, got {value}")
    return number


def _open_unit(value, argument):
    number = float(value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{argument} must be strictly between 0 and 1, got {value}")
    return number

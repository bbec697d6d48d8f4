"""Risk kernels against numpy, pandas and scipy references, on real candles and synthetic data.

The real data are the five */BTC 5-minute files in ../shared/data, inner-joined on date
(a few bars are missing from three of them), so the assets share one clock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.kernels import risk

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ASSETS = ["ETH", "LTC", "XMR", "DASH", "ETC"]
FIVE_MINUTE_BARS_PER_YEAR = 365 * 24 * 12
ALPHAS = [0.5, 0.9, 0.95, 0.99, 0.999]


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    """Closes shaped (assets × bars) on the dates all five files share."""
    frames = [
        pd.read_csv(DATA / f"{asset}_BTC-5m.csv", usecols=["date", "close"])
        .set_index("date")
        .rename(columns={"close": asset})
        for asset in ASSETS
    ]
    joined = pd.concat(frames, axis=1, join="inner").sort_index()
    assert len(joined) > 5700
    return joined.to_numpy(dtype=np.float64).T.copy()


@pytest.fixture(scope="module")
def returns(close) -> np.ndarray:
    return risk.log_returns(close)


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    """Fat-tailed, correlated returns (assets × bars) from a seeded generator."""
    rng = np.random.default_rng(7)
    mix = rng.normal(size=(4, 4)) * 0.01
    shocks = rng.standard_t(df=4, size=(4, 3000))
    return mix @ shocks + 0.0002


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=0)


def pandas_rolling(returns: np.ndarray, window: int, how: str) -> np.ndarray:
    frame = pd.DataFrame(returns.T)
    stacked = getattr(frame.rolling(window), how)()
    n_bars, n_assets = frame.shape
    return stacked.to_numpy().reshape(n_bars, n_assets, n_assets)


def test_log_returns_equal_log_of_price_ratio(close):
    out = risk.log_returns(close)
    assert out.shape == close.shape
    assert np.isnan(out[:, 0]).all()
    np.testing.assert_allclose(out[:, 1:], np.log(close[:, 1:] / close[:, :-1]), rtol=1e-12)
    np.testing.assert_array_equal(risk.log_returns(close[2]), out[2])


@pytest.mark.parametrize("window", [2, 20, 288])
def test_rolling_cov_equals_pandas_rolling_cov(returns, window):
    expected = pandas_rolling(returns, window, "cov")
    actual = risk.rolling_cov(returns, window)
    assert np.isnan(actual[:window]).all()
    # pandas computes (mean(xy) - mean(x)mean(y)) and leaves rounding residue where the window
    # is constant; ours is exactly 0 there. Compare at the scale of the variances.
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-10 * scale)


@pytest.mark.parametrize("window", [2, 3, 20])
def test_rolling_cov_equals_numpy_cov_of_each_window(returns, window):
    # Small windows are where sliding updates cancel (a variance collapsing to ~0); the kernel
    # must recompute there rather than return residue, or a negative variance.
    actual = risk.rolling_cov(returns, window)
    for t in range(window, returns.shape[1]):
        expected = np.cov(returns[:, t - window + 1 : t + 1])
        scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
        np.testing.assert_allclose(actual[t], expected, rtol=1e-8, atol=1e-10 * scale.max())
        assert (np.diag(actual[t]) >= 0).all()
        np.testing.assert_array_equal(actual[t], actual[t].T)


@pytest.mark.parametrize("window", [20, 288])
def test_rolling_cov_on_synthetic_equals_pandas_exactly_to_1e8(synthetic, window):
    assert_close(risk.rolling_cov(synthetic, window), pandas_rolling(synthetic, window, "cov"))


@pytest.mark.parametrize("window", [20, 288])
def test_rolling_corr_equals_pandas_rolling_corr(returns, synthetic, window):
    for data in (returns, synthetic):
        expected = pandas_rolling(data, window, "corr")
        actual = risk.rolling_corr(data, window)
        defined = np.isfinite(expected) & np.isfinite(actual)
        assert defined[window:].mean() > 0.99
        np.testing.assert_allclose(actual[defined], expected[defined], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("lam", [0.5, 0.94, 0.97])
def test_ewma_cov_equals_pandas_ewm_of_products(returns, synthetic, lam):
    for data in (returns, synthetic):
        frame = pd.DataFrame(data.T)
        n_assets = data.shape[0]
        expected = np.empty((data.shape[1], n_assets, n_assets))
        for i in range(n_assets):
            for j in range(n_assets):
                products = frame[i] * frame[j]
                expected[:, i, j] = products.ewm(alpha=1 - lam, adjust=False).mean()
        actual = risk.ewma_cov(data, lam)
        if np.isnan(data[:, 0]).any():
            assert np.isnan(actual[0]).all()
            expected[0] = np.nan
        assert_close(actual, expected)


def test_ewma_corr_is_ewma_cov_normalised(synthetic):
    cov = risk.ewma_cov(synthetic, 0.94)
    corr = risk.ewma_corr(synthetic, 0.94)
    std = np.sqrt(np.einsum("tii->ti", cov))
    np.testing.assert_allclose(corr, cov / std[:, :, None] / std[:, None, :], rtol=1e-12)


def test_cov_and_corr_matrix_equal_numpy(returns, synthetic):
    for data, complete in ((returns, returns[:, 1:]), (synthetic, synthetic)):
        assert_close(risk.cov_matrix(data), np.cov(complete))
        np.testing.assert_allclose(risk.corr_matrix(data), np.corrcoef(complete), rtol=1e-8)


def portfolio_losses(returns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    complete = returns[:, np.isfinite(returns).all(axis=0)]
    return -(weights @ complete)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_historical_var_and_cvar_equal_numpy_quantile(returns, synthetic, alpha):
    for data in (returns, synthetic):
        weights = np.linspace(-0.2, 1.0, data.shape[0])
        losses = portfolio_losses(data, weights)
        var = np.quantile(losses, alpha, method="linear")
        assert risk.var_historical(data, weights, alpha=alpha) == pytest.approx(var, rel=1e-8)
        cvar = losses[losses >= var].mean()
        assert risk.cvar_historical(data, weights, alpha=alpha) == pytest.approx(cvar, rel=1e-8)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_parametric_var_and_cvar_equal_scipy_normal(returns, synthetic, alpha):
    for data in (returns, synthetic):
        weights = np.full(data.shape[0], 1.0 / data.shape[0])
        complete = data[:, np.isfinite(data).all(axis=0)]
        mu = weights @ complete.mean(axis=1)
        sigma = np.sqrt(weights @ np.cov(complete) @ weights)
        var = -mu + sigma * stats.norm.ppf(alpha)
        cvar = -mu + sigma * stats.norm.pdf(stats.norm.ppf(alpha)) / (1 - alpha)
        assert risk.var_parametric(data, weights, alpha=alpha) == pytest.approx(var, rel=1e-8)
        assert risk.cvar_parametric(data, weights, alpha=alpha) == pytest.approx(cvar, rel=1e-8)


@pytest.mark.parametrize("window", [1, 50, 288])
def test_rolling_historical_var_equals_quantile_of_each_window(returns, window):
    weights = np.array([0.4, 0.3, 0.1, 0.1, 0.1])
    losses = -(weights @ returns)
    var = risk.rolling_var_historical(returns, weights, window=window, alpha=0.99)
    cvar = risk.rolling_cvar_historical(returns, weights, window=window, alpha=0.99)
    assert np.isnan(var[:window]).all() and np.isnan(cvar[:window]).all()
    for t in range(window, returns.shape[1], 37):
        block = losses[t - window + 1 : t + 1]
        expected = np.quantile(block, 0.99)
        assert var[t] == pytest.approx(expected, rel=1e-8)
        assert cvar[t] == pytest.approx(block[block >= expected].mean(), rel=1e-8)


def drawdown_reference(equity: np.ndarray) -> float:
    return float(np.max(1 - equity / np.maximum.accumulate(equity)))


def test_max_drawdown_and_calmar_equal_explicit_formulas(close):
    drawdowns = risk.max_drawdown(close)
    calmars = risk.calmar(close, FIVE_MINUTE_BARS_PER_YEAR)
    for i, prices in enumerate(close):
        assert drawdowns[i] == pytest.approx(drawdown_reference(prices), rel=1e-12)
        growth = (prices[-1] / prices[0]) ** (FIVE_MINUTE_BARS_PER_YEAR / (len(prices) - 1)) - 1
        assert calmars[i] == pytest.approx(growth / drawdown_reference(prices), rel=1e-8)
    assert risk.max_drawdown(close[0]) == drawdowns[0]


@pytest.mark.parametrize("risk_free", [0.0, 1e-5])
def test_sharpe_and_sortino_equal_explicit_formulas(returns, synthetic, risk_free):
    for data in (returns, synthetic):
        sharpes = risk.sharpe(data, FIVE_MINUTE_BARS_PER_YEAR, risk_free=risk_free)
        sortinos = risk.sortino(data, FIVE_MINUTE_BARS_PER_YEAR, risk_free=risk_free)
        for i, row in enumerate(data):
            excess = row[np.isfinite(row)] - risk_free
            root = np.sqrt(FIVE_MINUTE_BARS_PER_YEAR)
            sharpe = excess.mean() / excess.std(ddof=1) * root
            downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))
            assert sharpes[i] == pytest.approx(sharpe, rel=1e-8)
            assert sortinos[i] == pytest.approx(excess.mean() / downside * root, rel=1e-8)


def test_beta_equals_cov_over_market_variance(returns, synthetic):
    for data in (returns, synthetic):
        market = data.mean(axis=0)
        betas = risk.beta(data, market)
        complete = np.isfinite(market)
        for i, row in enumerate(data):
            cov = np.cov(row[complete], market[complete])
            assert betas[i] == pytest.approx(cov[0, 1] / cov[1, 1], rel=1e-8)
        assert risk.beta(data[0], market) == betas[0]


def test_sizes_equal_clipped_formulas():
    rng = np.random.default_rng(3)
    vol = rng.uniform(0.01, 2.0, 500)
    np.testing.assert_allclose(
        risk.vol_target_size(vol, target_vol=0.2, max_leverage=3.0),
        np.minimum(0.2 / vol, 3.0),
        rtol=1e-15,
    )
    mean = rng.normal(0, 0.1, 500)
    variance = rng.uniform(0.001, 0.5, 500)
    np.testing.assert_allclose(
        risk.kelly_size(mean, variance, cap=0.5), np.clip(mean / variance, 0, 0.5), rtol=1e-15
    )

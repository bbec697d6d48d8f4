"""Risk kernels on hand-made cases: conventions, degenerate inputs and refused arguments."""

from __future__ import annotations

import numpy as np
import pytest

from core.kernels import risk

WEIGHTS = np.array([0.5, 0.5])


def test_log_returns_of_one_bar_is_nan_and_of_none_is_empty():
    assert np.isnan(risk.log_returns(np.array([2.0]))).all()
    assert risk.log_returns(np.empty(0)).shape == (0,)
    assert risk.log_returns(np.empty((3, 0))).shape == (3, 0)


def test_log_returns_of_extreme_prices_stay_finite():
    out = risk.log_returns(np.array([1e-300, 1e300, 1e-300]))
    np.testing.assert_allclose(out[1:], [600 * np.log(10), -600 * np.log(10)], rtol=1e-12)


def test_rolling_windows_restart_after_a_missing_bar():
    returns = np.array([[0.01, -0.02, np.nan, 0.03, 0.01, -0.01]])
    cov = risk.rolling_cov(returns, 2)[:, 0, 0]
    assert np.isnan(cov[[0, 2, 3]]).all()
    assert cov[1] == pytest.approx(np.var([0.01, -0.02], ddof=1))
    assert cov[4] == pytest.approx(np.var([0.03, 0.01], ddof=1))
    ewma = risk.ewma_cov(returns, 0.5)[:, 0, 0]
    assert np.isnan(ewma[2]) and ewma[3] == pytest.approx(0.03**2)


def test_constant_window_has_zero_cov_and_undefined_corr():
    returns = np.vstack([np.full(10, 0.001), np.linspace(-0.01, 0.01, 10)])
    cov = risk.rolling_cov(returns, 4)
    corr = risk.rolling_corr(returns, 4)
    assert (cov[3:, 0, :] == 0).all() and (cov[3:, :, 0] == 0).all()
    assert np.isnan(corr[3:, 0, :]).all() and np.isnan(corr[3:, :, 0]).all()
    assert (corr[3:, 1, 1] == 1.0).all()


def test_ewma_is_seeded_with_the_first_outer_product():
    returns = np.array([[0.02, 0.01], [-0.01, 0.03]])
    cov = risk.ewma_cov(returns, 0.9)
    np.testing.assert_allclose(cov[0], np.outer(returns[:, 0], returns[:, 0]))
    expected = 0.9 * cov[0] + 0.1 * np.outer(returns[:, 1], returns[:, 1])
    np.testing.assert_allclose(cov[1], expected, rtol=1e-15)


def test_full_sample_measures_skip_the_leading_nan_of_log_returns():
    close = np.array([[1.0, 1.1, 1.0, 1.2, 0.9], [2.0, 2.1, 2.3, 2.0, 2.2]])
    returns = risk.log_returns(close)
    np.testing.assert_allclose(risk.cov_matrix(returns), np.cov(returns[:, 1:]), rtol=1e-12)
    trimmed = returns[:, 1:].copy()
    for function in (risk.var_historical, risk.cvar_historical, risk.var_parametric):
        assert function(returns, WEIGHTS) == function(trimmed, WEIGHTS)


def test_historical_var_of_a_known_sample_uses_linear_quantile():
    returns = np.array([np.arange(1.0, 11.0) / -100.0])  # losses 0.01 .. 0.10
    assert risk.var_historical(returns, np.ones(1), alpha=0.95) == pytest.approx(0.0955)
    assert risk.cvar_historical(returns, np.ones(1), alpha=0.95) == pytest.approx(0.10)
    assert risk.var_historical(returns, np.ones(1), alpha=0.5) == pytest.approx(0.055)
    assert risk.cvar_historical(returns, np.ones(1), alpha=0.5) == pytest.approx(0.08)


def test_var_of_a_portfolio_that_always_gains_is_negative():
    returns = np.full((2, 20), 0.01)
    assert risk.var_historical(returns, WEIGHTS) == pytest.approx(-0.01)
    assert risk.var_parametric(returns, WEIGHTS) == pytest.approx(-0.01)
    assert risk.cvar_parametric(returns, WEIGHTS) == pytest.approx(-0.01)


def test_single_bar_gives_historical_values_and_undefined_parametric_ones():
    returns = np.array([[-0.02], [0.04]])
    assert risk.var_historical(returns, WEIGHTS) == pytest.approx(-0.01)
    assert risk.cvar_historical(returns, WEIGHTS) == pytest.approx(-0.01)
    assert np.isnan(risk.var_parametric(returns, WEIGHTS))
    assert np.isnan(risk.cov_matrix(returns)).all()
    assert np.isnan(risk.var_historical(np.full((2, 3), np.nan), WEIGHTS))


def test_max_drawdown_and_calmar_on_a_known_path():
    equity = np.array([100.0, 120.0, 90.0, 110.0, 60.0, 130.0])
    assert risk.max_drawdown(equity) == pytest.approx(0.5)
    growth = 1.3 ** (365 / 5) - 1
    assert risk.calmar(equity, 365) == pytest.approx(growth / 0.5)
    assert risk.max_drawdown(np.arange(1.0, 5.0)) == 0.0
    assert np.isnan(risk.calmar(np.arange(1.0, 5.0), 365))
    assert risk.max_drawdown(np.array([1.0, 0.0])) == 1.0
    assert np.isnan(risk.max_drawdown(np.empty(0)))


def test_ratios_of_flat_returns_are_undefined():
    flat = np.zeros(50)
    assert np.isnan(risk.sharpe(flat, 365))
    assert np.isnan(risk.sortino(flat, 365))
    assert np.isnan(risk.beta(np.linspace(0, 1, 50), flat))
    assert risk.beta(2.0 * np.linspace(0, 1, 50), np.linspace(0, 1, 50)) == pytest.approx(2.0)


def test_sortino_counts_every_bar_in_the_downside_deviation():
    returns = np.array([0.02, -0.01, 0.03, 0.0])
    downside = np.sqrt(0.01**2 / 4)
    assert risk.sortino(returns, 1) == pytest.approx(0.01 / downside)


def test_vol_target_size_caps_leverage_and_keeps_nan():
    out = risk.vol_target_size(np.array([0.4, 0.05, 0.0, np.nan]), target_vol=0.2, max_leverage=2.0)
    np.testing.assert_array_equal(out[:3], [0.5, 2.0, 2.0])
    assert np.isnan(out[3])
    assert risk.vol_target_size(0.1, target_vol=0.1, max_leverage=3) == 1.0


def test_kelly_size_is_clipped_between_zero_and_cap():
    out = risk.kelly_size(
        np.array([0.05, -0.05, 0.5, 0.01]), np.array([0.1, 0.1, 0.1, 0.0]), cap=1.0
    )
    np.testing.assert_array_equal(out, [0.5, 0.0, 1.0, 1.0])
    assert risk.kelly_size(0.0, 0.0, cap=1.0) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: risk.log_returns(np.array([1.0, -3.1])), r"close\[1\] is -3.1; prices must be"),
        (lambda: risk.log_returns(np.ones((2, 2, 2))), r"close must be 1-D .* \(2, 2, 2\)"),
        (lambda: risk.rolling_cov(np.ones((2, 9)), 1), r"window must be >= 2"),
        (lambda: risk.rolling_cov(np.ones((2, 9)), 2.5), r"window must be an int, got float"),
        (lambda: risk.ewma_cov(np.ones((2, 9)), 1.0), r"lam must be strictly between 0 and 1"),
        (lambda: risk.cov_matrix(np.array([[0.1, np.inf]])), r"returns\[0, 1\] is inf"),
        (
            lambda: risk.var_historical(np.ones((2, 9)), np.ones(3)),
            r"weights must have shape \(2,\)",
        ),
        (
            lambda: risk.var_historical(np.ones((2, 9)), WEIGHTS, alpha=1.0),
            r"alpha must be strictly",
        ),
        (lambda: risk.cvar_parametric(np.ones((2, 9)), [np.nan, 1]), r"weights must be finite"),
        (
            lambda: risk.rolling_var_historical(np.ones((2, 9)), WEIGHTS, window=0),
            r"window must be",
        ),
        (lambda: risk.max_drawdown(np.array([1.0, -1.0])), r"equity\[1\] is -1.0"),
        (lambda: risk.sharpe(np.ones(5), 0), r"periods_per_year must be > 0, got 0"),
        (lambda: risk.sortino(np.ones(5), 12, risk_free=np.nan), r"risk_free must be finite"),
        (lambda: risk.beta(np.ones(5), np.ones(4)), r"market_returns must be 1-D with 5 bars"),
        (
            lambda: risk.vol_target_size(-0.1, target_vol=0.1, max_leverage=1),
            r"volatility must be >= 0",
        ),
        (
            lambda: risk.vol_target_size(0.1, target_vol=0, max_leverage=1),
            r"target_vol must be > 0",
        ),
        (lambda: risk.kelly_size(0.1, -1.0, cap=1), r"variance must be >= 0"),
        (lambda: risk.kelly_size(0.1, 1.0, cap=-1), r"cap must be >= 0"),
    ],
)
def test_bad_arguments_are_refused_by_name(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_warm_up_runs():
    risk.warm_up()

"""Properties of the risk kernels under random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.kernels import risk

FAST = settings(max_examples=60, deadline=None)

small_returns = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_infinity=False)
extreme_returns = st.floats(
    min_value=-1e100, max_value=1e100, allow_nan=False, allow_infinity=False
)
prices = st.floats(min_value=1e-200, max_value=1e200, allow_nan=False, allow_infinity=False)


def return_grids(elements=small_returns, max_bars=40):
    shape = st.tuples(st.integers(1, 4), st.integers(1, max_bars))
    return hnp.arrays(np.float64, shape, elements=elements)


def weights_for(returns_grid):
    return np.linspace(1.0, -0.5, returns_grid.shape[0])


def defined(value) -> bool:
    values = np.asarray(value)
    return bool((np.isfinite(values) | np.isnan(values)).all())


@FAST
@given(grid=return_grids(), alpha=st.floats(min_value=0.5, max_value=0.999))
def test_cvar_is_at_least_var(grid, alpha):
    weights = weights_for(grid)
    var = risk.var_historical(grid, weights, alpha=alpha)
    assert risk.cvar_historical(grid, weights, alpha=alpha) >= var
    var = risk.var_parametric(grid, weights, alpha=alpha)
    cvar = risk.cvar_parametric(grid, weights, alpha=alpha)
    assert np.isnan(var) == np.isnan(cvar)
    assert np.isnan(var) or cvar >= var


@FAST
@given(
    history=return_grids(max_bars=30),
    future=st.data(),
    cut=st.integers(0, 29),
    window=st.integers(2, 8),
    lam=st.floats(min_value=0.01, max_value=0.99),
)
def test_rolling_values_at_t_ignore_bars_after_t(history, future, cut, window, lam):
    t = min(cut, history.shape[1] - 1)
    later = future.draw(hnp.arrays(np.float64, (history.shape[0], 10), elements=small_returns))
    changed = np.concatenate([history[:, : t + 1], later], axis=1)
    weights = weights_for(history)
    for function in (
        lambda r: risk.rolling_cov(r, window),
        lambda r: risk.rolling_corr(r, window),
        lambda r: risk.ewma_cov(r, lam),
        lambda r: risk.ewma_corr(r, lam),
        lambda r: risk.rolling_var_historical(r, weights, window=window, alpha=0.9),
        lambda r: risk.rolling_cvar_historical(r, weights, window=window, alpha=0.9),
        lambda r: risk.log_returns(np.exp(r)),
    ):
        before = function(history)
        after = function(changed)
        np.testing.assert_array_equal(
            before[..., : t + 1] if before.ndim == 2 else before[: t + 1],
            after[..., : t + 1] if after.ndim == 2 else after[: t + 1],
        )


@FAST
@given(
    grid=return_grids(max_bars=30),
    window=st.integers(2, 8),
    lam=st.floats(min_value=0.01, max_value=0.99),
)
def test_correlations_lie_in_unit_interval_with_unit_diagonal(grid, window, lam):
    for corr in (
        risk.rolling_corr(grid, window),
        risk.ewma_corr(grid, lam),
        risk.corr_matrix(grid)[np.newaxis],
    ):
        finite = corr[np.isfinite(corr)]
        assert ((finite >= -1.0) & (finite <= 1.0)).all()
        diagonal = np.einsum("tii->ti", corr)
        assert ((diagonal == 1.0) | np.isnan(diagonal)).all()
        np.testing.assert_array_equal(np.isnan(corr), np.isnan(corr.transpose(0, 2, 1)))


@FAST
@given(
    equity=hnp.arrays(
        np.float64, st.integers(0, 50), elements=st.floats(min_value=0, max_value=1e300)
    )
)
def test_max_drawdown_lies_in_zero_one(equity):
    drawdown = risk.max_drawdown(equity)
    assert np.isnan(drawdown) if len(equity) == 0 else 0.0 <= drawdown <= 1.0


def every_measure(grid, close):
    weights = weights_for(grid)
    market = grid[0]
    yield risk.log_returns(close)
    yield risk.rolling_cov(grid, 2)
    yield risk.rolling_corr(grid, 3)
    yield risk.ewma_corr(grid, 0.94)
    yield risk.cov_matrix(grid)
    yield risk.corr_matrix(grid)
    for alpha in (0.5, 0.99):
        yield risk.var_historical(grid, weights, alpha=alpha)
        yield risk.cvar_historical(grid, weights, alpha=alpha)
        yield risk.var_parametric(grid, weights, alpha=alpha)
        yield risk.cvar_parametric(grid, weights, alpha=alpha)
    yield risk.rolling_cvar_historical(grid, weights, window=2)
    yield risk.max_drawdown(close)
    yield risk.sharpe(grid, 252)
    yield risk.sortino(grid, 252)
    yield risk.beta(grid, market)


@FAST
@given(
    grid=return_grids(elements=extreme_returns, max_bars=6),
    close=hnp.arrays(np.float64, st.integers(1, 6), elements=prices),
)
def test_extreme_and_short_inputs_give_nan_or_finite_values(grid, close):
    for value in every_measure(grid, close):
        assert defined(value)
    # Annualised growth can exceed float64 (1e-200 -> 1e200 in a year): documented as +inf.
    calmar = risk.calmar(close, 1.0)
    assert defined(calmar) or calmar == np.inf


@settings(max_examples=30, deadline=None)
@given(level=prices, assets=st.integers(1, 4), bars=st.integers(1, 12))
def test_constant_prices_give_defined_values(level, assets, bars):
    close = np.full((assets, bars), level)
    grid = risk.log_returns(close)
    for value in every_measure(grid, close[0]):
        assert defined(value)
    assert np.isnan(risk.sharpe(grid, 252)).all()
    assert risk.max_drawdown(close[0]) == 0.0

"""Properties every indicator keeps: causal, defined on degenerate input, 2-D equals row by row,
and bad arguments refused with errors that name them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernels import indicators as ind


def candles_from(close: np.ndarray) -> dict[str, np.ndarray]:
    """A consistent candle around each close: high above, low below, volume varying."""
    bars = np.arange(len(close))
    return {
        "close": close,
        "high": close * (1.0 + 0.01 * (bars % 3)),
        "low": close * (1.0 - 0.005 * (bars % 4)),
        "volume": (bars % 5) * 10.0,
    }


# Each indicator as a function of candles and a period, returning a tuple of outputs.
INDICATORS = {
    "sma": lambda c, p: (ind.sma(c["close"], p),),
    "ema": lambda c, p: (ind.ema(c["close"], p),),
    "wma": lambda c, p: (ind.wma(c["close"], p),),
    "rsi": lambda c, p: (ind.rsi(c["close"], p),),
    "macd": lambda c, p: ind.macd(c["close"], p, p + 3, 2),
    "bollinger": lambda c, p: ind.bollinger(c["close"], p, 2.0),
    "atr": lambda c, p: (ind.atr(c["high"], c["low"], c["close"], p),),
    "stoch": lambda c, p: ind.stoch(c["high"], c["low"], c["close"], p, 3),
    "adx": lambda c, p: ind.adx(c["high"], c["low"], c["close"], p),
    "obv": lambda c, p: (ind.obv(c["close"], c["volume"]),),
    "vwap": lambda c, p: (ind.vwap(c["high"], c["low"], c["close"], c["volume"], p),),
    "volatility": lambda c, p: (ind.volatility(c["close"], p),),
    "parkinson": lambda c, p: (ind.parkinson(c["high"], c["low"], p),),
    "zscore": lambda c, p: (ind.zscore(c["close"], p),),
    "rolling_max_drawdown": lambda c, p: (ind.rolling_max_drawdown(c["close"], p),),
    "crossover": lambda c, p: (ind.crossover(c["close"], ind.sma(c["close"], p)),),
}

prices = st.lists(st.floats(min_value=1e-8, max_value=1e8), min_size=1, max_size=60)


@settings(max_examples=100, deadline=None)
@given(
    history=prices,
    future=prices,
    cut=st.integers(min_value=0, max_value=59),
    period=st.integers(min_value=2, max_value=20),
    name=st.sampled_from(sorted(INDICATORS)),
)
def test_value_at_t_ignores_bars_after_t(history, future, cut, period, name):
    original = np.array(history)
    t = min(cut, len(original) - 1)
    changed = np.concatenate([original[: t + 1], np.array(future)])
    before = INDICATORS[name](candles_from(original), period)
    after = INDICATORS[name](candles_from(changed), period)
    for ours, theirs in zip(before, after, strict=True):
        np.testing.assert_array_equal(ours[: t + 1], theirs[: t + 1])


@settings(max_examples=100, deadline=None)
@given(
    close=prices,
    period=st.integers(min_value=2, max_value=20),
    name=st.sampled_from(sorted(INDICATORS)),
)
def test_extreme_and_short_series_give_nan_or_finite_never_an_error(
    close, period, name
):
    for output in INDICATORS[name](candles_from(np.array(close)), period):
        assert output.shape == (len(close),)
        assert not np.isinf(output).any()


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize("bars", [0, 1, 2])
def test_empty_single_bar_and_two_bar_series_are_defined(name, bars):
    for output in INDICATORS[name](candles_from(np.linspace(1.0, 2.0, bars)), 2):
        assert output.shape == (bars,)
        assert not np.isinf(output).any()


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_constant_prices_give_defined_flat_values(name):
    flat = {"close": np.full(40, 3.0), "high": np.full(40, 3.0), "low": np.full(40, 3.0),
            "volume": np.full(40, 7.0)}  # fmt: skip
    for output in INDICATORS[name](flat, 5):
        settled = output[~np.isnan(output)]
        assert settled.size > 0
        assert np.isfinite(settled).all()
        assert np.ptp(settled[-5:]) == 0.0


def test_constant_prices_give_the_neutral_values():
    flat = np.full(40, 3.0)
    assert ind.rsi(flat, 5)[-1] == 50.0
    assert ind.stoch(flat, flat, flat, 5, 3)[0][-1] == 50.0
    assert ind.zscore(flat, 5)[-1] == 0.0
    assert ind.volatility(flat, 5)[-1] == 0.0
    upper, middle, lower = ind.bollinger(flat, 5, 2.0)
    assert upper[-1] == middle[-1] == lower[-1] == 3.0
    assert ind.adx(flat, flat, flat, 5)[1][-1] == 0.0


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_two_d_equals_row_by_row_one_d(name):
    rng = np.random.default_rng(7)
    grid = np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(3, 300)), axis=1))
    whole = INDICATORS[name](candles_from_rows(grid), 14)
    for row in range(grid.shape[0]):
        single = INDICATORS[name](candles_from(grid[row]), 14)
        for ours, theirs in zip(whole, single, strict=True):
            assert ours.shape == grid.shape
            np.testing.assert_array_equal(ours[row], theirs)


def candles_from_rows(grid: np.ndarray) -> dict[str, np.ndarray]:
    rows = [candles_from(row) for row in grid]
    return {key: np.vstack([r[key] for r in rows]) for key in rows[0]}


def test_batch_equals_each_single_series_indicator():
    rng = np.random.default_rng(3)
    grid = np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(2, 200)), axis=1))
    specs = [(name, 9) for name in ind.KINDS]
    out = ind.batch(grid, specs)
    for j, (name, period) in enumerate(specs):
        np.testing.assert_array_equal(out[j], getattr(ind, name)(grid, period))


def test_warm_up_compiles_every_kernel():
    ind.warm_up()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: ind.atr(np.ones(5), np.ones(4), np.ones(5), 3),
            r"low has shape \(4,\) but high has shape \(5,\)",
        ),
        (
            lambda: ind.macd(np.ones(9), 26, 12, 9),
            "fast must be < slow, got fast=26, slow=12",
        ),
        (lambda: ind.macd(np.ones(9), 2, 5, 0), "signal must be >= 1, got 0"),
        (
            lambda: ind.bollinger(np.ones(9), 5, -1.0),
            "k must be a finite number >= 0, got -1.0",
        ),
        (
            lambda: ind.bollinger(np.ones(9), 5, float("nan")),
            "k must be a finite number >= 0",
        ),
        (
            lambda: ind.stoch(np.ones(9), np.ones(9), np.ones(9), 0, 3),
            "k_period must be >= 1, got 0",
        ),
        (
            lambda: ind.stoch(np.ones(9), np.ones(9), np.ones(9), 5, 0),
            "d_period must be >= 1, got 0",
        ),
        (lambda: ind.volatility(np.ones(9), 1), "period must be >= 2, got 1"),
        (
            lambda: ind.volatility(np.array([1.0, 0.0, 2.0]), 2),
            r"close must be > 0, got 0.0 at index 1",
        ),
        (
            lambda: ind.parkinson(np.ones((2, 3)), -np.ones((2, 3)), 2),
            r"low must be > 0, got -1.0 at index \(0, 0\)",
        ),
        (
            lambda: ind.rolling_max_drawdown(np.array([1.0, -2.0]), 2),
            "close must be > 0, got -2.0 at index 1",
        ),
        (
            lambda: ind.obv(np.ones(3), np.array([1.0, -1.0, 1.0])),
            "volume must be >= 0, got -1.0 at index 1",
        ),
        (
            lambda: ind.vwap(np.ones(3), np.ones(3), np.ones(3), np.ones(3), 0),
            "period must be >= 1, got 0",
        ),
        (
            lambda: ind.crossover(np.ones((2, 3)), np.ones(3)),
            r"b has shape \(3,\) but a has shape \(2, 3\)",
        ),
        (
            lambda: ind.batch(np.ones(9), [("volatility", 1)]),
            r"specs\[0\] period must be >= 2, got 1",
        ),
        (
            lambda: ind.adx(np.ones((2, 2, 2)), np.ones(2), np.ones(2), 3),
            r"high must be 1-D .* got shape \(2, 2, 2\)",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_integer_period_is_refused():
    with pytest.raises(TypeError, match="period must be an int, got float"):
        ind.atr(np.ones(5), np.ones(5), np.ones(5), 2.5)

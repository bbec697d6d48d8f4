"""Indicators against plain pandas/python references on the real ETH/BTC candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernels import indicators
from core.kernels.indicators import batch, ema, rsi, sma, warm_up

CANDLES = (
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ETH_BTC-5m.csv"
)
PERIODS = [1, 2, 5, 14, 50, 200]


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    frame = pd.read_csv(CANDLES)
    return frame["close"].to_numpy(dtype=np.float64)


def sma_reference(close: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(close).rolling(period).mean().to_numpy()


def ema_reference(close: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    if len(close) < period:
        return out
    seeded = pd.Series(close[period - 1 :].copy())
    seeded.iloc[0] = close[:period].mean()
    out[period - 1 :] = (
        seeded.ewm(alpha=2 / (period + 1), adjust=False).mean().to_numpy()
    )
    return out


def rsi_reference(close: list[float], period: int) -> list[float]:
    out = [float("nan")] * len(close)
    if len(close) <= period:
        return out
    changes = [close[i] - close[i - 1] for i in range(1, len(close))]
    avg_gain = sum(max(c, 0.0) for c in changes[:period]) / period
    avg_loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    for t in range(period, len(close)):
        if t > period:
            change = changes[t - 1]
            avg_gain = (avg_gain * (period - 1) + max(change, 0.0)) / period
            avg_loss = (avg_loss * (period - 1) + max(-change, 0.0)) / period
        if avg_loss == 0:
            out[t] = 50.0 if avg_gain == 0 else 100.0
        else:
            out[t] = 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def assert_matches(actual: np.ndarray, expected: np.ndarray, warm_up_bars: int) -> None:
    assert np.isnan(actual[:warm_up_bars]).all()
    assert not np.isnan(actual[warm_up_bars:]).any()
    assert np.isnan(expected[:warm_up_bars]).all()
    np.testing.assert_allclose(
        actual[warm_up_bars:], expected[warm_up_bars:], rtol=1e-8, atol=0
    )


@pytest.mark.parametrize("period", PERIODS)
def test_sma_equals_pandas_rolling_mean(close, period):
    assert_matches(sma(close, period), sma_reference(close, period), period - 1)


@pytest.mark.parametrize("period", PERIODS)
def test_ema_equals_sma_seeded_pandas_ewm(close, period):
    assert_matches(ema(close, period), ema_reference(close, period), period - 1)


@pytest.mark.parametrize("period", PERIODS)
def test_rsi_equals_python_wilder_reference(close, period):
    expected = np.array(rsi_reference(close.tolist(), period))
    assert_matches(rsi(close, period), expected, period)


def test_rsi_default_period_is_14(close):
    np.testing.assert_array_equal(rsi(close), rsi(close, 14))


def test_ema_first_value_is_sma_of_first_period():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    out = ema(values, 3)
    assert out[2] == pytest.approx(2.0)
    assert out[3] == pytest.approx(2.0 + 0.5 * (4.0 - 2.0))
    assert out[4] == pytest.approx(3.0 + 0.5 * (10.0 - 3.0))


def test_rsi_of_constant_prices_is_neutral_50():
    out = rsi(np.full(30, 0.05), 14)
    assert np.isnan(out[:14]).all()
    np.testing.assert_array_equal(out[14:], 50.0)


def test_rsi_is_100_when_prices_only_rise_and_0_when_they_only_fall():
    rising = np.arange(1.0, 31.0)
    np.testing.assert_array_equal(rsi(rising, 14)[14:], 100.0)
    np.testing.assert_array_equal(rsi(rising[::-1].copy(), 14)[14:], 0.0)


@pytest.mark.parametrize("function", [sma, ema, rsi])
def test_two_d_equals_row_by_row_one_d(close, function):
    grid = np.vstack([close, close[::-1] * 3.0, np.sqrt(close)])
    out = function(grid, 14)
    assert out.shape == grid.shape
    for row in range(grid.shape[0]):
        np.testing.assert_array_equal(out[row], function(grid[row], 14))


def test_batch_equals_each_indicator(close):
    grid = np.vstack([close, close * 2.0])
    specs = [("sma", 10), ("ema", 20), ("rsi", 14), ("sma", 3)]
    out = batch(grid, specs)
    assert out.shape == (4, 2, len(close))
    functions = {"sma": sma, "ema": ema, "rsi": rsi}
    for j, (name, period) in enumerate(specs):
        np.testing.assert_array_equal(out[j], functions[name](grid, period))
    np.testing.assert_array_equal(batch(close, specs)[2], rsi(close, 14))


@pytest.mark.parametrize("function", [sma, ema, rsi])
@pytest.mark.parametrize("bars", [0, 1, 5, 14])
def test_series_shorter_than_warm_up_is_all_nan(function, bars):
    out = function(np.linspace(1.0, 2.0, bars), 15)
    assert out.shape == (bars,)
    assert np.isnan(out).all()
    out_2d = function(np.ones((3, bars)), 15)
    assert out_2d.shape == (3, bars)
    assert np.isnan(out_2d).all()


def test_rsi_needs_one_bar_more_than_its_period():
    assert np.isnan(rsi(np.linspace(1.0, 2.0, 14), 14)).all()
    assert not np.isnan(rsi(np.linspace(1.0, 2.0, 15), 14)[14])


@pytest.mark.parametrize("function", [sma, ema, rsi])
@pytest.mark.parametrize("period", [0, -3])
def test_period_below_one_is_refused(function, period):
    with pytest.raises(ValueError, match=r"period must be >= 1, got -?\d"):
        function(np.ones(10), period)


def test_batch_names_the_bad_spec():
    with pytest.raises(ValueError, match=r"specs\[1\] period must be >= 1, got 0"):
        batch(np.ones((2, 10)), [("sma", 3), ("ema", 0)])
    with pytest.raises(ValueError, match="unknown indicator 'macd'"):
        batch(np.ones((2, 10)), [("macd", 3)])


def test_three_d_input_is_refused():
    with pytest.raises(ValueError, match=r"close must be 1-D .* got shape \(2, 2, 2\)"):
        sma(np.ones((2, 2, 2)), 2)


def test_warm_up_runs():
    warm_up()


prices = st.lists(
    st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False),
    min_size=2,
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(
    history=prices,
    future=prices,
    cut=st.integers(min_value=0, max_value=59),
    period=st.integers(min_value=2, max_value=20),
    name=st.sampled_from(sorted(indicators.KINDS)),
)
def test_value_at_t_ignores_bars_after_t(history, future, cut, period, name):
    function = getattr(indicators, name)
    original = np.array(history)
    t = min(cut, len(original) - 1)
    changed = np.concatenate([original[: t + 1], np.array(future)])
    np.testing.assert_array_equal(
        function(original, period)[: t + 1], function(changed, period)[: t + 1]
    )
    both = batch(np.vstack([original, original]), [(name, period)])[0, 0]
    np.testing.assert_array_equal(both[: t + 1], function(changed, period)[: t + 1])

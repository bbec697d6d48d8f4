"""Indicators TA-Lib lacks, against references on real candles, and crossovers.

Same warm-up NaN lengths, equal to 1e-8 relative. The references compute every window afresh
(numpy's ``sliding_window_view``, or pandas ``rolling().apply``): pandas' own rolling sum, mean
and std update running totals and here keep up to 1e-4 relative error from bars that already
left the window (e.g. a period-2 z-score of 0.99997 where it must be exactly ±1), which our
kernels avoid by recomputing windows that cancel. The z-score also allows ``atol=1e-9``
standard deviations: it is a difference of near-equal numbers divided by a spread.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.kernels.indicators import (
    crossover,
    ema,
    parkinson,
    rolling_max_drawdown,
    volatility,
    vwap,
    zscore,
)
from tests.core.kernels.indicator_data import MARKETS, assert_matches, load_candles

PERIODS = [2, 5, 14, 50]


def windows(values: np.ndarray, period: int) -> np.ndarray:
    """Each ``period``-bar window ending at bars ``period - 1 ..``, one per row."""
    return np.lib.stride_tricks.sliding_window_view(values, period)


def warming_up(period: int, values: np.ndarray) -> np.ndarray:
    """``values`` (one per window) preceded by ``period - 1`` NaN, one per bar."""
    return np.concatenate([np.full(period - 1, np.nan), values])


@pytest.fixture(scope="module", params=MARKETS)
def candles(request) -> dict[str, np.ndarray]:
    return load_candles(request.param)


@pytest.mark.parametrize("period", [1, *PERIODS])
def test_vwap_equals_pandas_rolling_typical_price_weighted_by_volume(candles, period):
    high, low, close, volume = (
        candles[name] for name in ("high", "low", "close", "volume")
    )
    typical = (high + low + close) / 3.0
    traded = windows(volume, period).sum(axis=1)
    with np.errstate(invalid="ignore"):
        expected = warming_up(
            period, windows(typical * volume, period).sum(axis=1) / traded
        )
    ours = vwap(high, low, close, volume, period)
    assert np.isnan(ours[: period - 1]).all()
    np.testing.assert_array_equal(np.isnan(ours[period - 1 :]), traded == 0)
    np.testing.assert_allclose(ours, expected, rtol=1e-8, atol=0)  # NaN where NaN


def test_vwap_is_nan_where_the_window_traded_nothing():
    price = np.array([1.0, 2.0, 3.0, 4.0])
    out = vwap(price, price, price, np.array([5.0, 0.0, 0.0, 1.0]), 2)
    np.testing.assert_array_equal(out[[0, 2]], [np.nan, np.nan])
    assert out[1] == 1.0
    assert out[3] == 4.0


@pytest.mark.parametrize("period", PERIODS)
def test_volatility_equals_pandas_sample_std_of_log_returns(candles, period):
    close = candles["close"]
    returns = np.log1p(
        np.diff(close) / close[:-1]
    )  # log(close / prior) without losing digits
    expected = np.concatenate(
        [[np.nan], warming_up(period, windows(returns, period).std(axis=1, ddof=1))]
    )
    assert_matches(volatility(close, period), expected, period)


@pytest.mark.parametrize("period", [1, *PERIODS])
def test_parkinson_equals_pandas_reference(candles, period):
    high, low = candles["high"], candles["low"]
    squared = np.log1p((high - low) / low) ** 2
    mean = windows(squared, period).mean(axis=1)
    expected = warming_up(period, np.sqrt(mean / (4.0 * math.log(2.0))))
    assert_matches(parkinson(high, low, period), expected, period - 1)


@pytest.mark.parametrize("period", PERIODS)
def test_zscore_equals_pandas_population_zscore(candles, period):
    window = windows(candles["close"], period)
    std = window.std(axis=1, ddof=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std == 0, 0.0, (window[:, -1] - window.mean(axis=1)) / std)
    expected = warming_up(period, z)  # flat window: 0 by definition
    assert_matches(zscore(candles["close"], period), expected, period - 1, atol=1e-9)


def drawdown_reference(window: np.ndarray) -> float:
    return float((1.0 - window / np.maximum.accumulate(window)).max())


@pytest.mark.parametrize("period", [1, 2, 14, 50])
def test_rolling_max_drawdown_equals_pandas_rolling_apply(candles, period):
    close = candles["close"][:2000]
    expected = (
        pd.Series(close).rolling(period).apply(drawdown_reference, raw=True).to_numpy()
    )
    assert_matches(rolling_max_drawdown(close, period), expected, period - 1)


def test_rolling_max_drawdown_is_the_worst_fall_inside_the_window():
    close = np.array([10.0, 8.0, 12.0, 9.0, 9.0, 15.0])
    np.testing.assert_allclose(
        rolling_max_drawdown(close, 3), [np.nan, np.nan, 0.2, 0.25, 0.25, 0.0]
    )


def test_crossover_marks_crosses_above_and_below():
    a = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 2.0, 2.0])
    b = np.full(8, 2.0)
    np.testing.assert_array_equal(crossover(a, b), [np.nan, 0, 1, 0, 0, -1, 0, 0])


def test_crossover_of_warming_up_emas_is_nan_until_both_exist(candles):
    close = candles["close"]
    fast, slow = ema(close, 5), ema(close, 20)
    out = crossover(fast, slow)
    assert np.isnan(out[:20]).all()
    assert set(np.unique(out[20:])) <= {-1.0, 0.0, 1.0}
    above = (fast > slow)[19:]
    expected = np.where(
        above[1:] & ~above[:-1],
        1.0,
        np.where(~above[1:] & above[:-1] & (fast[20:] < slow[20:]), -1.0, 0.0),
    )
    np.testing.assert_array_equal(out[20:], expected)

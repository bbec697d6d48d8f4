"""Indicators against TA-Lib on real candles: same warm-up NaN lengths, equal to 1e-8 relative.

Where an oscillator bounded to 0..100 sits near 0, TA-Lib's running sums leave an absolute error
around 1e-12, so those comparisons also allow ``atol=1e-9`` (one billionth of a percentage point).
"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from core.kernels.indicators import (
    adx,
    atr,
    bollinger,
    ema,
    macd,
    obv,
    rsi,
    sma,
    stoch,
    wma,
)
from tests.core.kernels.indicator_data import MARKETS, assert_matches, load_candles

PERIODS = [2, 5, 14, 50]
OSCILLATOR_ATOL = 1e-9


@pytest.fixture(scope="module", params=MARKETS)
def candles(request) -> dict[str, np.ndarray]:
    return load_candles(request.param)


@pytest.mark.parametrize("period", PERIODS)
def test_moving_averages_equal_talib(candles, period):
    close = candles["close"]
    assert_matches(sma(close, period), talib.SMA(close, period), period - 1)
    assert_matches(ema(close, period), talib.EMA(close, period), period - 1)
    assert_matches(wma(close, period), talib.WMA(close, period), period - 1)


def _flat_windows(close: np.ndarray, period: int) -> np.ndarray:
    """Bars whose last ``period`` changes are all zero."""
    changes = np.abs(np.diff(close, prepend=close[0]))
    moving = np.convolve(changes, np.ones(period), mode="full")[: len(close)]
    flat = moving == 0
    flat[:period] = False
    return flat


@pytest.mark.parametrize("period", PERIODS)
def test_rsi_equals_talib_except_50_where_prices_were_flat(candles, period):
    close = candles["close"]
    ours, theirs = rsi(close, period), talib.RSI(close, period)
    # Deliberate difference: RSI is 50 (neutral) when average gain and loss are both 0;
    # TA-Lib gives 0. With Wilder smoothing that happens only after an all-flat start.
    both_zero = (ours == 50.0) & (theirs == 0.0)
    assert not (
        both_zero & ~_flat_windows(close, period) & (np.arange(len(close)) > period)
    ).any()
    theirs = np.where(both_zero, 50.0, theirs)
    assert_matches(ours, theirs, period, atol=OSCILLATOR_ATOL)


@pytest.mark.parametrize(
    ("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 5), (2, 3, 1)]
)
def test_macd_equals_talib(candles, fast, slow, signal):
    close = candles["close"]
    expected = talib.MACD(close, fast, slow, signal)
    for ours, theirs in zip(macd(close, fast, slow, signal), expected, strict=True):
        # The histogram is a difference of near-equal numbers: allow TA-Lib's rounding there.
        assert_matches(ours, theirs, slow + signal - 2, atol=1e-15)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("k", [1.0, 2.0, 2.5])
def test_bollinger_equals_talib_bbands_with_population_std(candles, period, k):
    close = candles["close"]
    expected = talib.BBANDS(close, period, nbdevup=k, nbdevdn=k, matype=0)
    for ours, theirs in zip(bollinger(close, period, k), expected, strict=True):
        assert_matches(ours, theirs, period - 1)


@pytest.mark.parametrize("period", [1, *PERIODS])
def test_atr_equals_talib(candles, period):
    high, low, close = candles["high"], candles["low"], candles["close"]
    assert_matches(
        atr(high, low, close, period), talib.ATR(high, low, close, period), period
    )


@pytest.mark.parametrize(("k_period", "d_period"), [(14, 3), (5, 1), (1, 1), (21, 5)])
def test_stoch_equals_talib_stochf_and_stoch_with_slowk_1(candles, k_period, d_period):
    high, low, close = candles["high"], candles["low"], candles["close"]
    k, d = stoch(high, low, close, k_period, d_period)
    fast_k, fast_d = talib.STOCHF(high, low, close, k_period, d_period, 0)
    slow_k, slow_d = talib.STOCH(high, low, close, k_period, 1, 0, d_period, 0)
    # Deliberate difference: a window whose high equals its low gives %K = 50, TA-Lib 0.
    flat = (
        talib.MAX(high, k_period) == talib.MIN(low, k_period)
        if k_period > 1
        else high == low
    )
    fast_k = np.where(flat, 50.0, fast_k)
    slow_k = np.where(flat, 50.0, slow_k)
    if not flat.any():
        assert_matches(d, fast_d, k_period + d_period - 2, atol=OSCILLATOR_ATOL)
        assert_matches(d, slow_d, k_period + d_period - 2, atol=OSCILLATOR_ATOL)
    assert_matches(k, fast_k, k_period + d_period - 2, atol=OSCILLATOR_ATOL)
    assert_matches(k, slow_k, k_period + d_period - 2, atol=OSCILLATOR_ATOL)


def test_stoch_k_is_50_on_a_flat_window_where_talib_gives_0():
    high = np.array([2.0, 3.0, 2.0, 2.0, 2.0, 2.0])
    low = np.array([1.0, 1.0, 1.5, 2.0, 2.0, 2.0])
    close = np.array([1.5, 2.5, 1.5, 2.0, 2.0, 2.0])
    k, d = stoch(high, low, close, 2, 1)
    assert talib.STOCHF(high, low, close, 2, 1, 0)[0][-1] == 0.0
    np.testing.assert_array_equal(k[1:], [75.0, 25.0, 100.0, 50.0, 50.0])
    np.testing.assert_array_equal(d, k)


@pytest.mark.parametrize("period", PERIODS)
def test_adx_and_directional_indicators_equal_talib(candles, period):
    high, low, close = candles["high"], candles["low"], candles["close"]
    value, plus_di, minus_di = adx(high, low, close, period)
    # Same seeding as TA-Lib (its unstable period is 0 by default), so no bars are skipped.
    assert_matches(
        value, talib.ADX(high, low, close, period), 2 * period - 1, atol=OSCILLATOR_ATOL
    )
    assert_matches(
        plus_di, talib.PLUS_DI(high, low, close, period), period, atol=OSCILLATOR_ATOL
    )
    assert_matches(
        minus_di, talib.MINUS_DI(high, low, close, period), period, atol=OSCILLATOR_ATOL
    )


def test_directional_indicators_at_period_1_are_percent_where_talib_gives_a_fraction(
    candles,
):
    high, low, close = candles["high"], candles["low"], candles["close"]
    _, plus_di, minus_di = adx(high, low, close, 1)
    # Deliberate difference: TA-Lib's period-1 branch skips the x100 that every other period has.
    assert_matches(
        plus_di, 100.0 * talib.PLUS_DI(high, low, close, 1), 1, atol=OSCILLATOR_ATOL
    )
    assert_matches(
        minus_di, 100.0 * talib.MINUS_DI(high, low, close, 1), 1, atol=OSCILLATOR_ATOL
    )


def test_obv_equals_talib_minus_the_first_volume(candles):
    close, volume = candles["close"], candles["volume"]
    ours = obv(close, volume)
    # Deliberate difference: OBV starts at 0 on bar 0 (TA-Lib starts at volume[0]). The absolute
    # tolerance covers rounding of the running total where OBV crosses 0.
    expected = talib.OBV(close, volume) - volume[0]
    assert ours[0] == 0.0
    assert_matches(ours, expected, 0, atol=1e-12 * np.abs(expected).max())

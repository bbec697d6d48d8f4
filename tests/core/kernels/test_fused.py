"""The fused standard set against TA-Lib's separate calls and pandas, on the real 5m candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernels.fused import FusedIndicators, FusedParams, fused, warm_up

FILES = ("ETH_BTC", "LTC_BTC", "XMR_BTC", "DASH_BTC", "ETC_BTC")
PARAMS = [
    FusedParams(),
    FusedParams(ema_fast=1, ema_slow=2, rsi=2, atr=1, bollinger=1, bollinger_k=0.0, volatility=2),
    FusedParams(ema_fast=5, ema_slow=200, rsi=7, atr=30, bollinger=50, bollinger_k=2.5,
                volatility=96),
]


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> dict[str, np.ndarray]:
    """(assets × bars) open/high/low/close of the five 5m files on the bars they all have."""
    frames = [
        pd.read_csv(shared_data / f"{name}-5m.csv", index_col="date").add_prefix(f"{name}.")
        for name in FILES
    ]
    joined = pd.concat(frames, axis=1, join="inner")
    assert len(joined) > 5700
    return {
        column: np.vstack([joined[f"{name}.{column}"].to_numpy(np.float64) for name in FILES])
        for column in ("open", "high", "low", "close")
    }


def reference(high, low, close, params: FusedParams) -> dict[str, np.ndarray]:
    """The set from TA-Lib's separate calls (RSI with our flat-start 50) and pandas volatility."""
    if params.bollinger > 1:
        upper, middle, lower = talib.BBANDS(
            close, params.bollinger, params.bollinger_k, params.bollinger_k, 0
        )
    else:  # TA-Lib refuses period 1; a one-bar window is its own mean with std 0
        upper = middle = lower = close
    rsi = talib.RSI(close, params.rsi)
    # TA-Lib says 0 when nothing has moved yet; we say 50 (documented difference).
    flat_so_far = np.cumsum(np.abs(np.diff(close, prepend=close[0]))) == 0
    rsi[flat_so_far & ~np.isnan(rsi)] = 50.0
    return {
        "ema_fast": talib.EMA(close, params.ema_fast),
        "ema_slow": talib.EMA(close, params.ema_slow),
        "rsi": rsi,
        "atr": talib.ATR(high, low, close, params.atr),
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "volatility": np.log(pd.Series(close)).diff().rolling(params.volatility).std().to_numpy(),
    }


def assert_same(actual: np.ndarray, expected: np.ndarray, *, label: str) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{label} NaN")
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=0, err_msg=label)


@pytest.mark.parametrize("params", PARAMS, ids=["default", "shortest", "long"])
def test_fused_equals_the_separate_reference_calls_on_every_asset(candles, params):
    result = fused(high=candles["high"], low=candles["low"], close=candles["close"], params=params)
    for i, name in enumerate(FILES):
        expected = reference(candles["high"][i], candles["low"][i], candles["close"][i], params)
        for key, values in result.as_dict().items():
            assert values.shape == candles["close"].shape
            assert_same(values[i], expected[key], label=f"{name} {key}")


def test_warm_up_lengths_follow_ta_lib(candles):
    p = FusedParams(ema_fast=12, ema_slow=26, rsi=14, atr=10, bollinger=20, volatility=30)
    result = fused(high=candles["high"], low=candles["low"], close=candles["close"], params=p)
    first_values = {key: int(np.argmax(~np.isnan(v[0]))) for key, v in result.as_dict().items()}
    assert first_values == {
        "ema_fast": 11, "ema_slow": 25, "rsi": 14, "atr": 10,
        "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "volatility": 30,
    }


def test_one_series_equals_its_row_of_the_batch(candles):
    batch = fused(high=candles["high"], low=candles["low"], close=candles["close"])
    single = fused(high=candles["high"][2], low=candles["low"][2], close=candles["close"][2])
    for key, values in single.as_dict().items():
        assert values.shape == candles["close"][2].shape
        np.testing.assert_array_equal(values, batch.as_dict()[key][2], err_msg=key)


def test_rolling_moments_stay_exact_across_a_regime_shift():
    # Prices drop 10,000×: running sums of squares from the old regime would swamp the new one.
    rng = np.random.default_rng(3)
    close = np.concatenate([1e4 * np.exp(rng.normal(0, 0.01, 3000).cumsum()),
                            np.exp(rng.normal(0, 0.01, 3000).cumsum())])
    params = FusedParams(bollinger=20, volatility=20)
    result = fused(high=close, low=close, close=close, params=params)
    windows = np.lib.stride_tricks.sliding_window_view(close, 20)
    std = np.full(len(close), np.nan)
    std[19:] = windows.std(axis=1)
    np.testing.assert_allclose(result.bb_upper[19:], windows.mean(axis=1) + 2 * std[19:], rtol=1e-10)
    returns = np.diff(np.log(close))
    vol = np.lib.stride_tricks.sliding_window_view(returns, 20).std(axis=1, ddof=1)
    np.testing.assert_allclose(result.volatility[20:], vol, rtol=1e-9)


def test_constant_prices_give_flat_defined_values():
    close = np.full(60, 7.5)
    result = fused(high=close, low=close, close=close)
    assert np.allclose(result.ema_fast[11:], 7.5) and np.allclose(result.ema_slow[25:], 7.5)
    assert (result.rsi[14:] == 50.0).all()
    assert (result.atr[14:] == 0.0).all()
    assert (result.bb_upper[19:] == result.bb_middle[19:]).all()
    assert (result.bb_lower[19:] == result.bb_middle[19:]).all()
    assert (result.volatility[20:] == 0.0).all()


def test_one_bar_rsi_is_the_direction_of_the_last_change():
    # TA-Lib refuses period 1; Wilder's formula gives 100 up, 0 down, 50 unchanged.
    close = np.array([1.0, 2.0, 1.5, 1.5, 3.0])
    result = fused(high=close, low=close, close=close, params=FusedParams(rsi=1))
    np.testing.assert_array_equal(result.rsi, [np.nan, 100.0, 0.0, 50.0, 100.0])


@pytest.mark.parametrize("bars", [0, 1, 2, 13, 14, 15])
def test_short_series_are_nan_until_warm_and_never_raise(bars):
    close = np.linspace(1.0, 2.0, bars)
    result = fused(high=close, low=close, close=close)
    assert np.isnan(result.ema_slow).all()  # slow EMA needs 26 bars
    assert np.isnan(result.rsi).all() == (bars <= 14)


def test_extreme_prices_give_finite_values():
    close = np.array([1e-100, 1e100] * 40)
    result = fused(high=close, low=close, close=close,
                   params=FusedParams(ema_fast=3, ema_slow=5, bollinger=5, volatility=5))
    for key, values in result.as_dict().items():
        assert not np.isinf(values).any(), key
    assert np.isfinite(result.rsi[14:]).all() and np.isfinite(result.volatility[5:]).all()


@settings(max_examples=30, deadline=None)
@given(
    bars=st.integers(min_value=2, max_value=80),
    cut=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    period=st.integers(min_value=2, max_value=12),
)
def test_values_up_to_t_do_not_change_when_later_bars_change(bars, cut, seed, period):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(rng.normal(0, 0.02, (2, bars)).cumsum(axis=1))
    high, low = close * 1.01, close * 0.99
    t = int(cut * (bars - 1))
    later = close.copy()
    later[:, t + 1 :] *= rng.uniform(0.2, 5.0, (2, bars - t - 1))
    params = FusedParams(ema_fast=period, ema_slow=period + 3, rsi=period, atr=period,
                         bollinger=period, volatility=period)
    before = fused(high=high, low=low, close=close, params=params).as_dict()
    after = fused(high=np.maximum(high, later), low=np.minimum(low, later), close=later,
                  params=params).as_dict()
    for key in before:
        np.testing.assert_array_equal(before[key][:, : t + 1], after[key][:, : t + 1], err_msg=key)


def test_bad_arguments_name_the_problem():
    close = np.ones((2, 30))
    with pytest.raises(ValueError, match=r"high has shape \(2, 29\), close has \(2, 30\)"):
        fused(high=close[:, 1:], low=close, close=close)
    with pytest.raises(ValueError, match="close must be 1-D .* got shape"):
        fused(high=np.ones((1, 2, 3)), low=np.ones((1, 2, 3)), close=np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="volatility period must be >= 2, got 1"):
        FusedParams(volatility=1)
    with pytest.raises(ValueError, match="rsi period must be >= 1, got 0"):
        FusedParams(rsi=0)
    with pytest.raises(TypeError, match="ema_fast period must be an int, got float"):
        FusedParams(ema_fast=12.0)
    with pytest.raises(ValueError, match="bollinger_k must be a finite number >= 0"):
        FusedParams(bollinger_k=-1.0)


def test_warm_up_compiles_and_results_are_typed():
    warm_up()
    close = np.linspace(1.0, 3.0, 50)
    result = fused(high=close, low=close, close=close)
    assert isinstance(result, FusedIndicators)
    assert set(result.as_dict()) == {"ema_fast", "ema_slow", "rsi", "atr", "bb_upper",
                                     "bb_middle", "bb_lower", "volatility"}


def test_fused_emas_are_the_batch_ema_bit_for_bit():
    """The fused pass warms its EMAs up in the batch kernel and continues in its arithmetic."""
    import numpy as np

    from core.kernels import fused, indicators

    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    result = fused.fused(high=close * 1.01, low=close * 0.99, close=close).as_dict()
    assert np.array_equal(result["ema_fast"], indicators.ema(close, 12), equal_nan=True)
    assert np.array_equal(result["ema_slow"], indicators.ema(close, 26), equal_nan=True)


def test_a_reused_output_block_gives_the_same_values(candles):
    from core.kernels.fused import output_block

    h, lo, c = candles["high"], candles["low"], candles["close"]
    fresh = fused(high=h, low=lo, close=c).as_dict()
    block = output_block(c.shape)
    block.fill(123.0)  # stale values from an earlier call must all be overwritten
    reused = fused(high=h, low=lo, close=c, out=block).as_dict()
    for key, values in fresh.items():
        np.testing.assert_array_equal(reused[key], values, err_msg=key)
        assert np.shares_memory(reused[key], block)
    one = fused(high=h[0], low=lo[0], close=c[0], out=output_block(c[0].shape)).as_dict()
    np.testing.assert_array_equal(one["volatility"], fresh["volatility"][0])


def test_a_wrong_output_block_is_refused():
    close = np.linspace(1.0, 2.0, 40)
    with pytest.raises(ValueError, match=r"float64 block shaped \(9, 40\).*got float64 \(9, 39\)"):
        fused(high=close, low=close, close=close, out=np.empty((9, 39)))
    with pytest.raises(ValueError, match="got float32"):
        fused(high=close, low=close, close=close, out=np.empty((9, 40), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        fused(high=close, low=close, close=close, out=np.empty((9, 80))[:, ::2])


def test_a_steep_trend_with_tiny_noise_stays_exact():
    """Prices run far from the rolling sums' anchor while each window stays narrow: without
    the periodic re-anchoring ``s2 - s1²/n`` would cancel the variance's digits."""
    rng = np.random.default_rng(11)
    bars = 100_000
    close = np.linspace(100.0, 1100.0, bars) + rng.normal(0, 1e-4, bars)
    result = fused(high=close, low=close, close=close).as_dict()
    windows = np.lib.stride_tricks.sliding_window_view(close, 20)
    np.testing.assert_allclose(result["bb_upper"][19:] - result["bb_middle"][19:],
                               2 * windows.std(axis=1), rtol=1e-8)
    returns = np.lib.stride_tricks.sliding_window_view(np.diff(np.log(close)), 20)
    np.testing.assert_allclose(result["volatility"][20:], returns.std(axis=1, ddof=1), rtol=1e-8)


def test_a_large_block_takes_the_log_in_slices_and_gives_the_same_values():
    """From LOG_SPLIT_VALUES closes on, the log runs in one slice per Numba thread; every row
    must equal the same row computed alone (the serial path), bad prices included."""
    import numba

    from core.kernels.fused import LOG_SPLIT_VALUES

    rng = np.random.default_rng(5)
    assets, bars = 7, LOG_SPLIT_VALUES // 7 + 1_001
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (assets, bars)), axis=1))
    close[3, 5_000] = 0.0  # a zero and a negative price: NaN volatility there, not an exception
    close[5, 9_000] = -1.0
    high, low = close * 1.01, close * 0.99
    assert numba.get_num_threads() >= 2, "the sliced log needs at least two Numba threads"
    whole = fused(high=high, low=low, close=close).as_dict()
    for row in range(assets):
        alone = fused(high=high[row], low=low[row], close=close[row]).as_dict()
        for key, values in alone.items():
            np.testing.assert_array_equal(whole[key][row], values, err_msg=f"{key} row {row}")
    assert np.isnan(whole["volatility"][3, 5_000]) and np.isnan(whole["volatility"][5, 9_000])
    assert np.isfinite(whole["volatility"][0, 20:]).all()

"""The streaming state itself: seeding from history, equality with batch on random series,
and refusing bad bars and bad specs without corrupting the state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.kernels.streaming import STANDARD_SPECS, StreamingIndicators, warm_up
from tests.core.kernels.test_streaming import (
    SPECS,
    Bars,
    assert_equal_at_every_bar,
    batch_outputs,
    output_names,
    stream,
)


def random_bars(seed: int, *, assets: int, n_bars: int, tick: float = 0.0) -> Bars:
    """A positive random walk; with ``tick`` > 0 closes snap to that grid, so flat runs occur."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (assets, n_bars)), axis=1))
    if tick:
        close = np.maximum(np.round(close / tick) * tick, tick)
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, close.shape) * (tick == 0))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, close.shape) * (tick == 0))
    volume = rng.uniform(0.0, 100.0, close.shape) * (rng.random(close.shape) > 0.1)
    return Bars(open_, high, low, close, volume)


@pytest.mark.parametrize("split", [0, 1, 13, 34, 250])
def test_from_history_then_streaming_equals_streaming_from_the_start(split):
    bars = random_bars(1, assets=3, n_bars=400)
    from_start = stream(StreamingIndicators(3, SPECS), bars)
    head = bars.window(0, split)
    seeded = StreamingIndicators.from_history(
        open=head.open, high=head.high, low=head.low, close=head.close, volume=head.volume,
        specs=SPECS,
    )
    assert seeded.bars_seen == split
    continued = stream(seeded, bars.window(split, 400))
    for name in seeded.names:
        np.testing.assert_array_equal(continued[name], from_start[name][:, split:], err_msg=name)


def test_from_history_accepts_one_asset_as_1d_arrays():
    bars = random_bars(2, assets=1, n_bars=60)
    seeded = StreamingIndicators.from_history(
        open=bars.open[0], high=bars.high[0], low=bars.low[0], close=bars.close[0],
        volume=bars.volume[0],
    )
    assert seeded.assets == 1
    assert seeded.names == StreamingIndicators(1).names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_bars=st.integers(1, 70), flat=st.booleans())
def test_streaming_equals_batch_on_short_random_series(seed, n_bars, flat):
    """Any length, including shorter than every warm-up, and (``flat``) prices on a coarse grid
    with flat runs: the stream equals the batch function at every bar, NaN for NaN."""
    from core.kernels import indicators

    bars = random_bars(seed, assets=2, n_bars=n_bars, tick=1.0 if flat else 0.0)
    values = stream(StreamingIndicators(2, SPECS), bars)
    for spec in SPECS:
        expected = batch_outputs(indicators, spec, bars)
        if expected is None:
            continue
        for name, reference in zip(output_names(spec), expected, strict=True):
            if spec[0] in ("zscore", "volatility"):  # see test_streaming: cancellation floors
                np.testing.assert_array_equal(np.isnan(values[name]), np.isnan(reference))
                np.testing.assert_allclose(values[name], reference, rtol=1e-8, atol=1e-9)
            else:
                assert_equal_at_every_bar(values[name], reference, name)


def test_flat_prices_give_neutral_rsi_and_stochastic_and_zero_spread():
    streaming = StreamingIndicators(1, [("rsi", 3), ("stoch", 3, 2), ("bollinger", 3, 2.0),
                                        ("zscore", 3), ("volatility", 2), ("atr", 2)])
    for _ in range(6):
        last = streaming.update(0.1, 0.1, 0.1, 0.1, 1.0)
    assert last["rsi(3)"][0] == 50.0
    assert last["stoch(3,2).k"][0] == 50.0 and last["stoch(3,2).d"][0] == 50.0
    assert last["bollinger(3,2.0).upper"][0] == last["bollinger(3,2.0).lower"][0] == 0.1
    assert last["zscore(3)"][0] == 0.0
    assert last["volatility(2)"][0] == 0.0
    assert last["atr(2)"][0] == 0.0


def test_update_returns_one_value_per_asset_for_every_output():
    streaming = StreamingIndicators(4)
    result = streaming.update(*(np.full(4, 2.0) for _ in range(5)))
    assert list(result) == list(streaming.names)
    assert all(value.shape == (4,) for value in result.values())
    assert np.isnan(result["sma(20)"]).all()
    assert (result["obv"] == 0.0).all()
    assert streaming.bars_seen == 1


def test_a_non_finite_bar_is_refused_and_leaves_the_state_unchanged():
    bars = random_bars(3, assets=2, n_bars=40)
    streaming = StreamingIndicators(2, SPECS)
    reference = StreamingIndicators(2, SPECS)
    for t in range(30):
        streaming.update(*(x[:, t] for x in bars.fields()))
        reference.update(*(x[:, t] for x in bars.fields()))
    bad_close = bars.close[:, 30].copy()
    bad_close[1] = np.nan
    with pytest.raises(ValueError, match=r"bar 30, asset 1: .*close=nan.*state is unchanged"):
        streaming.update(bars.open[:, 30], bars.high[:, 30], bars.low[:, 30], bad_close,
                         bars.volume[:, 30])
    assert streaming.bars_seen == 30
    after = streaming.update(*(x[:, 30] for x in bars.fields()))
    expected = reference.update(*(x[:, 30] for x in bars.fields()))
    for name in streaming.names:
        np.testing.assert_array_equal(after[name], expected[name])


def test_from_history_names_the_bad_bar():
    close = np.array([1.0, 2.0, -3.0, 4.0])
    with pytest.raises(ValueError, match=r"bar 2, asset 0: .*close=-3.0"):
        StreamingIndicators.from_history(open=close, high=close, low=close, close=close,
                                         volume=np.ones(4))


def test_a_bar_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"shaped \(3,\)"):
        StreamingIndicators(3).update(np.ones(2), np.ones(2), np.ones(2), np.ones(2), np.ones(2))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (("sam", 20), "unknown indicator; known: sma, ema"),
        (("macd", 12, 26), r"expected \(name, fast, slow, signal\)"),
        (("macd", 26, 12, 9), "fast must be shorter than slow"),
        (("volatility", 1), "period must be >= 2"),
        (("sma", 2.5), "period must be an int"),
        (("bollinger", 20, float("nan")), "k must be a finite number"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StreamingIndicators(1, [spec])


def test_the_same_indicator_twice_is_refused():
    with pytest.raises(ValueError, match="same indicator twice"):
        StreamingIndicators(1, [("ema", 12), ("ema", 12)])


def test_warm_up_compiles_without_error_and_standard_specs_cover_every_family():
    from core.kernels.streaming import FAMILIES

    warm_up()
    assert {spec[0] for spec in STANDARD_SPECS} == set(FAMILIES)

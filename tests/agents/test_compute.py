"""The compute agent as a plain object: batched indicators equal the kernels."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent, IndicatorRequest, IndicatorSpec, StandardSet
from core.kernels import indicators
from core.kernels.fused import FusedParams, fused
from core.kernels.indicators import ema, rsi, sma


@pytest.fixture(scope="module")
def agent() -> ComputeAgent:
    return ComputeAgent()


@pytest.fixture
def close() -> np.ndarray:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.01, size=(3, 400))
    return 100.0 * np.exp(np.cumsum(returns, axis=1))


def test_batched_call_returns_every_key_equal_to_the_kernel(agent, close):
    specs = [
        IndicatorSpec(name="sma", period=10),
        IndicatorSpec(name="ema", period=21),
        IndicatorSpec(name="rsi", period=14),
    ]
    result = agent.indicators(close, specs)
    assert set(result) == {"sma_10", "ema_21", "rsi_14"}
    for values in result.values():
        assert values.shape == close.shape
    np.testing.assert_array_equal(result["sma_10"], sma(close, 10))
    np.testing.assert_array_equal(result["ema_21"], ema(close, 21))
    np.testing.assert_array_equal(result["rsi_14"], rsi(close, 14))


def test_duplicate_specs_are_computed_once(close):
    agent = ComputeAgent()
    spec = IndicatorSpec(name="sma", period=5)
    result = agent.indicators(close, [spec, IndicatorSpec(name="sma", period=5), spec])
    assert list(result) == ["sma_5"]
    health = agent.health()
    assert health["calls"] == 1
    assert health["series_computed"] == close.shape[0]
    assert health["compute_seconds"] > 0


def test_health_counts_every_call(close):
    agent = ComputeAgent()
    assert agent.health() == {"calls": 0, "series_computed": 0, "compute_seconds": 0.0}
    request = IndicatorRequest(specs=(IndicatorSpec(name="rsi", period=7),))
    agent.indicators(close, request.specs)
    agent.indicators(close[:1], request.specs)
    assert agent.health()["calls"] == 2
    assert agent.health()["series_computed"] == close.shape[0] + 1


def test_one_d_close_is_refused(agent):
    with pytest.raises(ValueError, match=r"close must be 2-D \(assets × bars\), got shape \(5,\)"):
        agent.indicators(np.ones(5), [IndicatorSpec(name="sma", period=2)])


def test_spec_key_and_validation():
    assert IndicatorSpec(name="ema", period=50).key == "ema_50"
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        IndicatorSpec(name="sma", period=0)
    with pytest.raises(ValidationError, match="literal_error|Input should be"):
        IndicatorSpec(name="ichimoku", period=3)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IndicatorSpec(name="sma", period=3, source="close")


def _ohlc(close: np.ndarray) -> dict[str, np.ndarray]:
    return {"high": close * 1.004, "low": close * 0.995, "close": close}


def _ohlcv(close: np.ndarray) -> dict[str, np.ndarray]:
    return {**_ohlc(close), "volume": np.abs(np.sin(close)) * 1e3 + 1.0}


def test_multi_parameter_specs_have_keys_defaults_and_outputs():
    assert IndicatorSpec(name="bollinger", period=20).key == "bollinger_20_2"
    assert IndicatorSpec(name="bollinger", period=20, k=2.5).outputs == (
        "bollinger_20_2.5.upper", "bollinger_20_2.5.middle", "bollinger_20_2.5.lower")
    macd = IndicatorSpec(name="macd", period=12)
    assert (macd.key, macd.slow, macd.signal, macd.lookback) == ("macd_12_26_9", 26, 9, 35)
    assert IndicatorSpec(name="stoch", period=14, smooth=5).outputs == (
        "stoch_14_5.k", "stoch_14_5.d")
    assert IndicatorSpec(name="atr", period=14).inputs == ("high", "low", "close")
    assert IndicatorSpec(name="vwap", period=14).inputs == ("high", "low", "close", "volume")
    assert IndicatorSpec(name="rsi", period=14).inputs == ("close",)
    assert IndicatorSpec(name="adx", period=14).outputs == (
        "adx_14.adx", "adx_14.plus_di", "adx_14.minus_di")


def test_parameters_an_indicator_does_not_take_are_refused():
    with pytest.raises(ValidationError, match="sma takes no 'k' parameter"):
        IndicatorSpec(name="sma", period=3, k=2.0)
    with pytest.raises(ValidationError, match="rsi takes no 'slow' parameter"):
        IndicatorSpec(name="rsi", period=3, slow=9)
    with pytest.raises(ValidationError, match=r"macd slow period \(12\) must exceed fast \(12\)"):
        IndicatorSpec(name="macd", period=12, slow=12)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IndicatorRequest(specs=(), assets=("BTC",))


def test_fused_method_equals_the_fused_kernel_under_indicator_keys(agent, close):
    arrays = _ohlc(close)
    result = agent.fused(**arrays)
    expected = fused(**arrays, params=FusedParams()).as_dict()
    assert result.keys() == {
        "ema_12", "ema_26", "rsi_14", "atr_14", "bollinger_20_2.upper",
        "bollinger_20_2.middle", "bollinger_20_2.lower", "volatility_20"}
    for field, key in StandardSet().keys().items():
        assert isinstance(result[key], np.ndarray) and result[key].shape == close.shape
        np.testing.assert_array_equal(result[key], expected[field])
    # the fused EMA and RSI follow the same convention as the single-indicator kernels
    np.testing.assert_allclose(result["ema_12"], ema(close, 12), rtol=1e-12)
    np.testing.assert_allclose(result["rsi_14"], rsi(close, 14), rtol=1e-12)


def test_one_request_returns_specs_and_standard_set_together(close):
    agent = ComputeAgent()
    standard = StandardSet(ema_fast=5, ema_slow=21, volatility=10)
    request = IndicatorRequest(
        specs=(IndicatorSpec(name="sma", period=10), IndicatorSpec(name="ema", period=21)),
        standard=standard,
    )
    result = agent.compute(request, **_ohlc(close))
    assert set(result) == {"sma_10", *standard.keys().values()}
    np.testing.assert_array_equal(result["sma_10"], sma(close, 10))
    np.testing.assert_allclose(result["ema_21"], ema(close, 21), rtol=1e-12)
    health = agent.health()
    assert health["calls"] == 1  # ema_21 came from the fused pass, not a second kernel
    assert health["series_computed"] == (8 + 1) * close.shape[0]


def test_missing_high_low_names_what_needs_them(agent, close):
    request = IndicatorRequest(specs=(IndicatorSpec(name="atr", period=14),))
    with pytest.raises(ValueError, match="atr_14 need a high array as well as close"):
        agent.compute(request, close=close)
    with pytest.raises(ValueError, match="the standard set need a high array"):
        agent.compute(IndicatorRequest(specs=(), standard=StandardSet()), close=close)
    vwap = IndicatorRequest(specs=(IndicatorSpec(name="vwap", period=5),))
    with pytest.raises(ValueError, match="vwap_5 need a volume array as well as close"):
        agent.compute(vwap, **_ohlc(close))
    with pytest.raises(ValueError, match=r"low has shape \(3, 399\), close has \(3, 400\)"):
        agent.compute(request, close=close, high=close, low=close[:, 1:])


@pytest.mark.parametrize(
    ("spec", "call"),
    [
        (IndicatorSpec(name="atr", period=14), lambda a: indicators.atr(a["high"], a["low"],
                                                                       a["close"], 14)),
        (IndicatorSpec(name="bollinger", period=20, k=2.0),
         lambda a: indicators.bollinger(a["close"], 20, 2.0)),
        (IndicatorSpec(name="macd", period=12, slow=26, signal=9),
         lambda a: indicators.macd(a["close"], 12, 26, 9)),
        (IndicatorSpec(name="stoch", period=14, smooth=3),
         lambda a: indicators.stoch(a["high"], a["low"], a["close"], 14, 3)),
        (IndicatorSpec(name="wma", period=10), lambda a: indicators.wma(a["close"], 10)),
        (IndicatorSpec(name="adx", period=14),
         lambda a: indicators.adx(a["high"], a["low"], a["close"], 14)),
        (IndicatorSpec(name="volatility", period=20), lambda a: indicators.volatility(a["close"], 20)),
        (IndicatorSpec(name="zscore", period=20), lambda a: indicators.zscore(a["close"], 20)),
        (IndicatorSpec(name="rolling_max_drawdown", period=30),
         lambda a: indicators.rolling_max_drawdown(a["close"], 30)),
        (IndicatorSpec(name="parkinson", period=20),
         lambda a: indicators.parkinson(a["high"], a["low"], 20)),
        (IndicatorSpec(name="vwap", period=20),
         lambda a: indicators.vwap(a["high"], a["low"], a["close"], a["volume"], 20)),
    ],
    ids=lambda value: value.name if isinstance(value, IndicatorSpec) else "",
)
def test_every_named_indicator_equals_its_public_kernel(agent, close, spec, call):
    if not hasattr(indicators, spec.name):
        pytest.skip(f"core.kernels.indicators has no {spec.name}() yet")
    arrays = _ohlcv(close)
    result = agent.compute(IndicatorRequest(specs=(spec,)), **arrays)
    expected = call(arrays)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert list(result) == list(spec.outputs)
    for key, values in zip(spec.outputs, expected, strict=True):
        np.testing.assert_array_equal(result[key], values, err_msg=key)


@pytest.mark.slow
def test_through_a_ray_actor_the_result_is_the_same_zero_copy_arrays(ray_session, close):
    import ray

    actor = ray.remote(ComputeAgent).remote()
    big = np.tile(close, (4, 10))  # 12 × 4000: large enough for the shared object store
    request = IndicatorRequest(specs=(IndicatorSpec(name="rsi", period=14),),
                               standard=StandardSet())
    remote = ray.get(actor.compute.remote(request, **_ohlc(big)))
    local = ComputeAgent().compute(request, **_ohlc(big))
    assert remote.keys() == local.keys()
    for key, values in remote.items():
        assert type(values) is np.ndarray
        assert not values.flags.writeable, key  # read straight from the object store
        np.testing.assert_array_equal(values, local[key], err_msg=key)
    ray.kill(actor)


def test_obv_is_a_spec_without_a_period(close):
    spec = IndicatorSpec(name="obv")
    assert (spec.key, spec.inputs, spec.outputs, spec.lookback) == (
        "obv", ("close", "volume"), ("obv",), 1)
    volume = np.abs(np.sin(np.arange(close.size))).reshape(close.shape) * 100 + 1
    result = ComputeAgent().compute(IndicatorRequest(specs=(spec,)), close=close, volume=volume)
    np.testing.assert_array_equal(result["obv"], indicators.obv(close, volume))
    with pytest.raises(ValidationError, match="obv runs over the whole history and takes no period"):
        IndicatorSpec(name="obv", period=3)
    with pytest.raises(ValidationError, match="sma needs a period"):
        IndicatorSpec(name="sma")
    with pytest.raises(ValueError, match="obv need a volume array"):
        ComputeAgent().compute(IndicatorRequest(specs=(spec,)), close=close)

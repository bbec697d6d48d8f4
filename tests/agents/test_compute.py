"""The compute agent as a plain object: batched indicators equal the kernels."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent, IndicatorRequest, IndicatorSpec
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
        IndicatorSpec(name="macd", period=3)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IndicatorSpec(name="sma", period=3, source="close")

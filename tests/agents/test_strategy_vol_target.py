"""Volatility-targeted trend: size scales inversely with volatility; out when the trend turns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.vol_target import VolTarget, VolTargetConfig
from agents.strategy import StrategiesConfig
from core.kernels import indicators
from core.models import Side
from core.validation import describe
from tests.agents.strategy_support import (
    assert_no_look_ahead,
    market,
    portfolio,
    replay,
    sentiment,
    snapshot,
)

FAST, SLOW, VOL = "ema_20", "ema_100", "volatility_48"
UP, DOWN = (101.0, 100.0), (99.0, 100.0)
HOURLY = math.sqrt(8760)


def _signals(vol: float | None, *, trend=UP, prices=None, held=None, cash=100_000.0, **params):
    """Signals with the sleeves taking all the equity unless ``max_exposure`` is given."""
    params = {"max_exposure": 1.0, **params}
    prices = prices or {"BTC": 100.0}
    values = {FAST: trend[0], SLOW: trend[1], VOL: vol}
    snap = snapshot(prices=prices, now={asset: values for asset in prices})
    return VolTarget(VolTargetConfig(**params)).signals(
        snap, sentiment(), portfolio(cash=cash, held=held, prices=prices))


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


def test_the_position_is_sized_to_the_volatility_target():
    [signal] = _signals(0.01)
    assert signal.side is Side.BUY
    assert signal.notional_usd == pytest.approx(100_000 * 0.5 / (0.01 * HOURLY))
    assert "weight 53%" in signal.rationale


@pytest.mark.parametrize("factor", [2.0, 3.0, 4.0])
def test_size_scales_inversely_with_volatility(factor):
    [calm] = _signals(0.01)
    [wild] = _signals(0.01 * factor)
    assert wild.notional_usd == pytest.approx(calm.notional_usd / factor)


def test_weight_is_capped_at_the_whole_sleeve_when_volatility_is_low():
    [signal] = _signals(0.0001)
    assert signal.notional_usd == pytest.approx(100_000)


def test_each_asset_gets_an_equal_sleeve():
    prices = {"BTC": 100.0, "ETH": 10.0}
    signals = _signals(0.0001, prices=prices)
    assert [(s.asset, s.notional_usd) for s in signals] == [("BTC", 50_000), ("ETH", 50_000)]


def test_max_exposure_splits_its_share_of_equity_between_the_sleeves():
    prices = {"BTC": 100.0, "ETH": 10.0}
    signals = _signals(0.0001, prices=prices, max_exposure=0.3)
    assert [(s.asset, s.notional_usd) for s in signals] == [("BTC", 15_000), ("ETH", 15_000)]
    assert VolTargetConfig().max_exposure == 0.4  # the shipped policy's max_volatile_share


def test_no_trade_while_the_position_is_within_min_rebalance_of_target():
    target = 100_000 * 0.5 / (0.01 * HOURLY)  # of equity 100,000 (cash plus position)
    held = {"BTC": (target / 100.0 * 0.99, 100.0)}
    assert _signals(0.01, held=held, cash=100_000 - target * 0.99) == []



def test_min_rebalance_is_a_share_of_equity_not_of_cash():
    # at volatility 0.0001 the weight is 1: the target is all the equity, so the gap is the cash
    held = {"BTC": (990.0, 100.0)}
    assert _signals(0.0001, held=held, cash=1_500) == []  # 1,500 <= 2% of 100,500
    [signal] = _signals(0.0001, held={"BTC": (975.0, 100.0)}, cash=2_500)  # 2,500 > 2,000
    assert (signal.side, signal.notional_usd) == (Side.BUY, pytest.approx(2_500))

def test_a_volatility_rise_cuts_the_position_to_its_new_target():
    held = {"BTC": (500.0, 100.0)}  # 50,000 of 100,000 equity
    [signal] = _signals(0.02, held=held, cash=50_000)
    target = 100_000 * 0.5 / (0.02 * HOURLY)
    assert signal.side is Side.SELL
    assert signal.quantity == pytest.approx((50_000 - target) / 100.0)
    assert "cut to target" in signal.rationale


def test_a_turned_trend_exits_the_whole_position_however_small():
    [signal] = _signals(0.01, trend=DOWN, held={"BTC": (0.5, 100.0)})
    assert (signal.side, signal.quantity) == (Side.SELL, 0.5)
    assert "trend turned" in signal.rationale
    assert _signals(0.01, trend=DOWN) == []  # flat in a downtrend: nothing


def test_nothing_while_warming_up():
    assert _signals(None) == []


def test_the_first_buy_uses_the_realised_volatility_of_the_series(compute):
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0.003, 0.01, 300)))  # a noisy uptrend
    params = {"fast": 5, "slow": 20, "volatility_period": 30, "target_volatility": 0.2}
    decisions = replay(market(close), "vol_target", params, compute=compute, cash=10_000)
    tick, action, notional, *_ = decisions[0]
    volatility = indicators.volatility(close, 30)[tick]
    weight = 0.2 / (volatility * HOURLY)
    assert action["buy"] == "BTC"
    assert 0.05 < weight < 1, "the test needs a weight below the cap to mean anything"
    assert notional == pytest.approx(10_000 * 0.4 * weight)  # the default max_exposure


def test_decisions_never_depend_on_later_bars(compute):
    params = {"fast": 12, "slow": 48, "bars_per_year": 105_120, "target_volatility": 0.3}
    assert_no_look_ahead("vol_target", params, compute=compute)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fast": 50, "slow": 50}, "vol_target.slow"),
        ({"target_volatility": 0}, "vol_target.target_volatility"),
        ({"bars_per_year": 0}, "vol_target.bars_per_year"),
        ({"min_rebalance": 1}, "vol_target.min_rebalance"),
        ({"volatility_period": 1}, "vol_target.volatility_period"),
        ({"target": 0.3}, "vol_target.target"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["vol_target"], "vol_target": params})
    assert f"strategies.{field}:" in describe(info.value, source="quorum.toml",
                                              prefix="strategies")


def test_slow_not_longer_than_fast_names_both():
    with pytest.raises(ValidationError, match=r"slow \(50\) must be longer than fast \(50\)"):
        VolTargetConfig(fast=50, slow=50)

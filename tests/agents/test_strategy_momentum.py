"""Time-series momentum: entries on a strong trailing return, exits when it fades, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.momentum import Momentum, MomentumConfig
from agents.strategy import StrategiesConfig
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

SMA, VOL = "sma_10", "volatility_48"


def _strategy(**params) -> Momentum:
    return Momentum(MomentumConfig(lookback=10, **params))


def _snap(*, close: float, sma_now: float, sma_before: float, vol: float | None = 0.01):
    return snapshot(prices={"BTC": close}, now={"BTC": {SMA: sma_now, VOL: vol}},
                    before={"BTC": {SMA: sma_before, VOL: vol}})


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


def test_buys_all_cash_when_the_trailing_return_is_above_entry():
    # close 10 bars ago = 110 - 10 * (100 - 99) = 100: a +10% trailing return
    signals = _strategy().signals(_snap(close=110, sma_now=100, sma_before=99), sentiment(),
                                  portfolio(cash=40_000))
    [signal] = signals
    assert (signal.asset, signal.side, signal.notional_usd) == ("BTC", Side.BUY, 40_000)
    assert "10-bar return +10.00%" in signal.rationale
    assert 0.5 < signal.confidence <= 1.0


def test_sells_the_whole_position_when_the_return_falls_below_exit():
    # close 10 bars ago = 110 - 10 * (100 - 100.2) = 112: a -1.8% trailing return
    book = portfolio(held={"BTC": (3.0, 90.0)}, prices={"BTC": 110.0})
    [signal] = _strategy().signals(_snap(close=110, sma_now=100, sma_before=100.2), sentiment(),
                                   book)
    assert (signal.side, signal.quantity) == (Side.SELL, 3.0)
    assert signal.notional_usd == pytest.approx(330.0)
    assert "below exit" in signal.rationale
    # 0.5 plus the move in standard deviations of a 10-bar return (volatility 0.01 a bar), / 4
    assert signal.confidence == pytest.approx(0.5 + math.log1p(2 / 110) / (0.01 * 10**0.5) / 4)


@pytest.mark.parametrize("held", [None, (1.0, 100.0)])
def test_nothing_between_exit_and_entry(held):
    # +1%: above exit (0) and below entry (3%), flat or holding
    book = portfolio(held={"BTC": held} if held else None)
    snap = _snap(close=101, sma_now=100, sma_before=99.9)
    assert _strategy().signals(snap, sentiment(), book) == []


def test_no_second_entry_while_holding_and_no_exit_while_flat():
    strong = _snap(close=110, sma_now=100, sma_before=99)
    weak = _snap(close=110, sma_now=100, sma_before=100.2)
    assert _strategy().signals(strong, sentiment(), portfolio(held={"BTC": (1.0, 100.0)})) == []
    assert _strategy().signals(weak, sentiment(), portfolio()) == []


def test_nothing_while_warming_up():
    snap = snapshot(now={"BTC": {SMA: 100.0, VOL: 0.01}}, before={"BTC": {SMA: None}})
    assert _strategy().signals(snap, sentiment(), portfolio()) == []


def test_entry_lands_on_the_bar_the_true_trailing_return_first_passes_entry(compute):
    # Flat at 100 for 20 bars, then +1% a bar: the 5-bar return is 1.01**k - 1 after k up bars,
    # first above 3% at k = 3 (tick 22): the SMA identity must give the true return.
    close = np.concatenate([np.full(20, 100.0), 100.0 * 1.01 ** np.arange(1, 21)])
    decisions = replay(market(close), "momentum", {"lookback": 5, "entry_return": 0.03,
                                                   "volatility_period": 4}, compute=compute)
    tick, action, *_, rationale, _ = decisions[0]
    assert tick == 22
    assert action["buy"] == "BTC"
    assert f"5-bar return {1.01**3 - 1:+.2%}" in rationale


def test_decisions_never_depend_on_later_bars(compute):
    params = {"lookback": 24, "entry_return": 0.004, "exit_return": -0.002}
    assert_no_look_ahead("momentum", params, compute=compute)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lookback": 1}, "momentum.lookback"),
        ({"entry_return": 0}, "momentum.entry_return"),
        ({"entry_return": 0.02, "exit_return": 0.05}, "momentum.exit_return"),
        ({"volatility_period": 1}, "momentum.volatility_period"),
        ({"lookbak": 5}, "momentum.lookbak"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["momentum"], "momentum": params})
    assert f"strategies.{field}:" in describe(info.value, source="quorum.toml",
                                              prefix="strategies")


def test_exit_above_entry_names_both_values():
    with pytest.raises(ValidationError, match=r"exit_return \(0.05\) must be below entry_return "
                                              r"\(0.02\)"):
        MomentumConfig(entry_return=0.02, exit_return=0.05)

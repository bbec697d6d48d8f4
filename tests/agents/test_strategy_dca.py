"""DCA: a fixed amount per interval, skipped while the price is far above the average entry."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.dca import Dca, DcaConfig
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


def _signals(*, tick: int = 48, price: float = 100.0, held=None, cash: float = 10_000.0,
             **params):
    prices = {"BTC": price}
    return Dca(DcaConfig(**params)).signals(snapshot(prices=prices, tick=tick), sentiment(),
                                            portfolio(cash=cash, held=held, prices=prices))


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


def test_buys_the_fixed_amount_on_each_due_bar():
    [signal] = _signals(tick=48, amount_usd=250, interval_bars=24)
    assert (signal.asset, signal.side, signal.notional_usd) == ("BTC", Side.BUY, 250)
    assert "every 24 bars (first buy)" in signal.rationale


def test_nothing_between_due_bars():
    assert _signals(tick=47, interval_bars=24) == []


def test_buys_each_asset_while_cash_lasts():
    prices = {"BTC": 100.0, "ETH": 10.0, "SOL": 1.0}
    signals = Dca(DcaConfig(amount_usd=400)).signals(
        snapshot(prices=prices, tick=0), sentiment(), portfolio(cash=1_000, prices=prices))
    assert [(s.asset, s.notional_usd) for s in signals] == [("BTC", 400), ("ETH", 400)]


def test_skips_the_buy_while_the_price_is_more_than_max_premium_above_the_entry():
    held = {"BTC": (1.0, 100.0)}
    assert _signals(price=110.01, held=held, max_premium=0.10) == []
    [signal] = _signals(price=110.0, held=held, max_premium=0.10)  # at the limit: still buys
    assert signal.side is Side.BUY
    assert "+10.0% vs average entry" in signal.rationale
    assert [s.side for s in _signals(price=80.0, held=held, max_premium=0.10)] == [Side.BUY]


def test_the_skip_is_per_asset():
    prices = {"BTC": 130.0, "ETH": 95.0}
    book = portfolio(held={"BTC": (1.0, 100.0), "ETH": (1.0, 100.0)}, prices=prices)
    signals = Dca(DcaConfig()).signals(snapshot(prices=prices, tick=0), sentiment(), book)
    assert [s.asset for s in signals] == ["ETH"]


def test_take_profit_sells_the_whole_position_even_between_due_bars():
    held = {"BTC": (2.0, 100.0)}
    [signal] = _signals(tick=5, price=121.0, held=held, take_profit=0.2)
    assert (signal.side, signal.quantity) == (Side.SELL, 2.0)
    assert signal.notional_usd == pytest.approx(242.0)
    assert _signals(tick=5, price=119.0, held=held, take_profit=0.2) == []
    assert _signals(tick=5, price=150.0, held=held) == []  # no take-profit configured


def test_a_series_buys_on_schedule_except_where_the_skip_rule_holds(compute):
    # Up 1% a bar for 60 bars, then down 1% a bar: the rule, worked out here independently
    close = np.concatenate([100 * 1.01 ** np.arange(60), 100 * 1.01**59 * 0.99 ** np.arange(1, 61)])
    decisions = replay(market(close), "dca", {"amount_usd": 10, "interval_bars": 6,
                                              "max_premium": 0.05}, compute=compute, cash=1_000)
    expected, quantity, cost = [], 0.0, 0.0
    for tick in range(0, len(close), 6):
        if quantity and close[tick] / (cost / quantity) - 1 > 0.05:
            continue
        expected.append(tick)
        quantity, cost = quantity + 10 / close[tick], cost + 10
    assert [tick for tick, *_ in decisions] == expected
    assert 0 in expected and len(expected) < len(range(0, len(close), 6))  # some were skipped


def test_decisions_never_depend_on_later_bars(compute):
    params = {"amount_usd": 1, "interval_bars": 12, "max_premium": 0.002, "take_profit": 0.01}
    assert_no_look_ahead("dca", params, compute=compute)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount_usd": 0}, "dca.amount_usd"),
        ({"interval_bars": 0}, "dca.interval_bars"),
        ({"max_premium": -0.1}, "dca.max_premium"),
        ({"take_profit": 0}, "dca.take_profit"),
        ({"amount": 5}, "dca.amount"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["dca"], "dca": params})
    assert f"strategies.{field}:" in describe(info.value, source="quorum.toml",
                                              prefix="strategies")

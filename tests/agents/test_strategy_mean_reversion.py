"""Mean reversion (Bollinger / z-score): buy a stretched low, sell at the mean or the stop."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.mean_reversion import MeanReversion, MeanReversionConfig
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

Z = "zscore_20"
HOLDING = {"BTC": (2.0, 100.0)}


def _signals(z: float | None, *, held=None, **params):
    strategy = MeanReversion(MeanReversionConfig(**params))
    return strategy.signals(snapshot(now={"BTC": {Z: z}}), sentiment(),
                            portfolio(cash=50_000, held=held))


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


def test_buys_when_the_close_is_below_the_lower_band():
    [signal] = _signals(-2.5)
    assert (signal.side, signal.notional_usd) == (Side.BUY, 50_000)
    assert "2.50 std below its 20-bar mean" in signal.rationale
    assert signal.confidence == pytest.approx(0.5 + 0.5 / 2 / 2)


def test_the_band_edge_itself_is_an_entry():
    assert [s.side for s in _signals(-2.0)] == [Side.BUY]


def test_sells_everything_once_back_at_the_mean():
    [signal] = _signals(0.1, held=HOLDING)
    assert (signal.side, signal.quantity) == (Side.SELL, 2.0)
    assert "back to the exit level" in signal.rationale


def test_the_stop_sells_a_position_stretched_further_down():
    [signal] = _signals(-3.6, held=HOLDING, stop_z=3.5)
    assert (signal.side, signal.quantity) == (Side.SELL, 2.0)
    assert "past the stop" in signal.rationale
    assert _signals(-3.6, held=HOLDING) == []  # no stop configured: keep holding


def test_nothing_is_bought_where_the_stop_would_sell_it():
    assert _signals(-3.6, stop_z=3.5) == []  # regression: bought at z -4.26, stopped next bar
    assert _signals(-3.5, stop_z=3.5) == []  # the stop's level itself sells
    assert [s.side for s in _signals(-3.4, stop_z=3.5)] == [Side.BUY]
    assert [s.side for s in _signals(-3.6)] == [Side.BUY]  # no stop: any stretch buys


@pytest.mark.parametrize(("z", "held"), [(-1.9, None), (-1.0, HOLDING), (-2.5, HOLDING),
                                         (1.0, None), (None, None), (None, HOLDING)])
def test_nothing_inside_the_bands_or_while_warming_up(z, held):
    assert _signals(z, held=held) == []


def test_buys_exactly_where_the_close_pierces_the_lower_bollinger_band(compute):
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    data = market(close)
    decisions = replay(data, "mean_reversion", {"period": 20, "entry_z": 2.0}, compute=compute,
                       cash=1e6)
    _, _, lower = indicators.bollinger(data.close[0], 20, 2.0)
    buys = [tick for tick, action, *_ in decisions if action.get("buy") == "BTC"]
    assert buys, "a 400-bar random walk should touch its lower band"
    assert buys[0] == int(np.argmax(data.close[0] <= np.nan_to_num(lower, nan=-1.0)))
    for tick in buys:
        assert data.close[0, tick] <= lower[tick] * (1 + 1e-9)


def test_decisions_never_depend_on_later_bars(compute):
    assert_no_look_ahead("mean_reversion", {"period": 30}, compute=compute)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": 1}, "mean_reversion.period"),
        ({"entry_z": 0}, "mean_reversion.entry_z"),
        ({"entry_z": 2.0, "exit_z": -2.5}, "mean_reversion.exit_z"),
        ({"entry_z": 2.0, "stop_z": 1.5}, "mean_reversion.stop_z"),
        ({"stopz": 3}, "mean_reversion.stopz"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["mean_reversion"],
                                         "mean_reversion": params})
    assert f"strategies.{field}:" in describe(info.value, source="quorum.toml",
                                              prefix="strategies")


def test_a_stop_inside_the_entry_names_both():
    with pytest.raises(ValidationError, match=r"stop_z \(1.5\) must be beyond entry_z \(2\)"):
        MeanReversionConfig(entry_z=2.0, stop_z=1.5)

"""Grid: lines across a band, a size per line crossed, and a new band when price breaks out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.grid import Grid, GridConfig
from agents.strategy import StrategiesConfig
from core.models import Side
from core.validation import describe
from tests.agents.strategy_support import (
    assert_no_look_ahead,
    portfolio,
    sentiment,
    snapshot,
)

CLOSE = "sma_1"
# levels 5, width 10% around 100: lines at 95, 97.5, 100, 102.5, 105
CONFIG = GridConfig(levels=5, band_width=0.10, size_usd=500)


def _tick(grid: Grid, close: float, previous: float | None, *, held: float = 0.0,
          cash: float = 10_000.0):
    prices = {"BTC": close}
    book = portfolio(cash=cash, held={"BTC": (held, 100.0)} if held else None, prices=prices)
    snap = snapshot(prices=prices, now={"BTC": {CLOSE: close}}, before={"BTC": {CLOSE: previous}})
    return grid.signals(snap, sentiment(), book)


def _started(close: float = 100.0, config: GridConfig = CONFIG) -> Grid:
    grid = Grid(config)
    assert _tick(grid, close, None) == []  # the first close sets the centre; nothing crossed
    assert dict(grid.centres) == {"BTC": close}
    return grid


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


def test_lines_are_evenly_spaced_across_the_band():
    assert CONFIG.lines(100.0).tolist() == pytest.approx([95.0, 97.5, 100.0, 102.5, 105.0])
    assert GridConfig(levels=11, band_width=0.2).lines(50.0)[[0, 5, 10]].tolist() == \
        pytest.approx([45.0, 50.0, 55.0])


def test_buys_one_size_per_line_the_close_falls_through():
    grid = _started()
    [signal] = _tick(grid, 96.9, 100.4)  # through 100 and 97.5
    assert (signal.side, signal.notional_usd) == (Side.BUY, 1_000)
    assert "fell through 2 grid line(s)" in signal.rationale


def test_a_buy_is_capped_by_cash():
    [signal] = _tick(_started(), 96.9, 100.4, cash=700)
    assert signal.notional_usd == 700


def test_sells_one_size_per_line_the_close_rises_through_while_holding():
    grid = _started()
    [signal] = _tick(grid, 103.0, 99.0, held=50.0)  # through 100 and 102.5
    assert signal.side is Side.SELL
    assert signal.quantity == pytest.approx(1_000 / 103.0)
    assert signal.notional_usd == pytest.approx(1_000)
    [capped] = _tick(grid, 103.0, 99.0, held=2.0)
    assert capped.quantity == 2.0


def test_nothing_between_lines_or_rising_with_nothing_held():
    grid = _started()
    assert _tick(grid, 99.0, 98.0) == []
    assert _tick(grid, 101.0, 99.0) == []
    assert dict(grid.centres) == {"BTC": 100.0}


def test_a_breakout_re_centres_the_band_on_the_close():
    grid = _started()
    [sell] = _tick(grid, 106.0, 104.0, held=10.0)  # crosses 105, the top line, and leaves
    assert sell.side is Side.SELL
    assert dict(grid.centres) == {"BTC": 106.0}
    # the new lines are 100.7, 103.35, 106, 108.65, 111.3: 106 -> 103 crosses two of them (the
    # old band's 95..105 would have had one, 105)
    [buy] = _tick(grid, 103.0, 106.0)
    assert buy.notional_usd == 1_000
    assert "around 106" in buy.rationale
    assert _tick(grid, 94.0, 96.0) == []  # no line between 96 and 94; the band moves down
    assert dict(grid.centres) == {"BTC": 94.0}


def test_without_re_centring_the_band_stays_and_idles_outside():
    grid = _started(config=CONFIG.model_copy(update={"recentre_on_breakout": False}))
    _tick(grid, 106.0, 104.0)
    assert dict(grid.centres) == {"BTC": 100.0}
    assert _tick(grid, 110.0, 106.0, held=1.0) == []


def test_each_asset_has_its_own_band():
    grid = Grid(CONFIG)
    prices = {"BTC": 100.0, "ETH": 10.0}
    grid.signals(snapshot(prices=prices), sentiment(), portfolio(prices=prices))
    assert dict(grid.centres) == {"BTC": 100.0, "ETH": 10.0}


def test_decisions_never_depend_on_later_bars(compute):
    params = {"levels": 9, "band_width": 0.01, "size_usd": 5}
    assert_no_look_ahead("grid", params, compute=compute)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"levels": 1}, "grid.levels"),
        ({"band_width": 2}, "grid.band_width"),
        ({"band_width": 0}, "grid.band_width"),
        ({"size_usd": 0}, "grid.size_usd"),
        ({"recentre_on_breakout": "sometimes"}, "grid.recentre_on_breakout"),
        ({"level": 5}, "grid.level"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["grid"], "grid": params})
    assert f"strategies.{field}:" in describe(info.value, source="quorum.toml",
                                              prefix="strategies")

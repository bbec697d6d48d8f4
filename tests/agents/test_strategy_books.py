"""Each strategy its own book: the treasury keeps lots per strategy, a strategy run with others
sees and sells only its own, and the whole pipeline never lets one sell what another bought."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from agents.strategies import base
from agents.strategy import StrategiesConfig, StrategyAgent
from agents.treasury import TreasuryAgent
from core.config import Settings
from core.feeds.synthetic import generate
from core.models import Bar, Fill, MarketSnapshot, SentimentReading, Side
from core.session import Session

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _fill(side: Side, quantity: float, price: float, strategy: str | None, *, tick: int = 1,
          asset: str = "BTC") -> Fill:
    return Fill(order_id=f"o-{side.value}-{tick}-{strategy}", decision_id=f"d-{tick}-{strategy}",
                tick=tick, ts=T0 + timedelta(hours=tick), asset=asset, side=side,
                quantity=quantity, price=price, fee_usd=0.0, slippage_bps=0.0, strategy=strategy)


def _lots(treasury: TreasuryAgent) -> dict[tuple[str, str | None], tuple[float, float]]:
    return {(lot.asset, lot.strategy): (lot.quantity, lot.entry_price)
            for lot in treasury.open_positions()}


def test_a_sale_takes_from_the_sellers_own_lot_and_the_portfolio_shows_one_position():
    treasury = TreasuryAgent(cash_usd=10_000.0, start=T0)
    treasury.apply([_fill(Side.BUY, 2, 100.0, "sma_cross", tick=1),
                    _fill(Side.BUY, 1, 130.0, "dca", tick=2)])
    shown = treasury.portfolio().positions["BTC"]
    assert (shown.quantity, shown.avg_entry_price) == (3, pytest.approx(110.0))
    assert _lots(treasury) == {("BTC", "sma_cross"): (2, 100.0), ("BTC", "dca"): (1, 130.0)}

    treasury.apply([_fill(Side.SELL, 2, 120.0, "sma_cross", tick=3)])
    assert _lots(treasury) == {("BTC", "dca"): (1, 130.0)}  # dca's lot and entry untouched
    [trade] = treasury.closed_trades()
    assert (trade.strategy, trade.size, trade.entry_price, trade.pnl) == ("sma_cross", 2, 100.0,
                                                                           40.0)


def test_a_sale_past_the_sellers_lot_takes_the_rest_from_no_strategys_then_the_others():
    treasury = TreasuryAgent(cash_usd=10_000.0, start=T0, opening={"BTC": (1.0, 90.0)})
    treasury.apply([_fill(Side.BUY, 1, 100.0, "dca", tick=1),
                    _fill(Side.BUY, 1, 110.0, "grid", tick=2)])
    treasury.apply([_fill(Side.SELL, 2.5, 120.0, "grid", tick=3)])
    assert [(t.strategy, t.size, t.entry_price) for t in treasury.closed_trades()] == [
        ("grid", 1, 110.0), (None, 1, 90.0), ("dca", 0.5, 100.0)]
    assert _lots(treasury) == {("BTC", "dca"): (0.5, 100.0)}
    assert treasury.realized_pnl_usd == pytest.approx(2.5 * 120 - 110 - 90 - 50)


def test_a_sale_larger_than_every_lot_together_is_refused_and_changes_nothing():
    treasury = TreasuryAgent(cash_usd=10_000.0, start=T0)
    treasury.apply([_fill(Side.BUY, 1, 100.0, "dca", tick=1),
                    _fill(Side.BUY, 1, 100.0, "grid", tick=2)])
    before = (_lots(treasury), treasury.cash_usd, treasury.closed_trades())
    with pytest.raises(Exception, match="sells 2.5 BTC but 2.0 is held"):
        treasury.apply([_fill(Side.SELL, 2.5, 120.0, "grid", tick=3)])
    assert (_lots(treasury), treasury.cash_usd, treasury.closed_trades()) == before


@pytest.fixture
def sells_what_it_sees():
    """A plugin that sells all the BTC its portfolio shows, every tick."""

    @base.register
    class SellsWhatItSees(base.Strategy):
        name = "test_sells_what_it_sees"
        config_model = base.StrategyConfig

        def required_indicators(self):
            return []

        def signals(self, snapshot, sentiment, portfolio):
            held = portfolio.quantity("BTC")
            return [base.Signal("BTC", Side.SELL, 0.5, f"sell {held:g}",
                                portfolio.position_value("BTC"), quantity=held)] if held else []

    yield SellsWhatItSees.name
    base._REGISTRY.pop(SellsWhatItSees.name, None)


def _propose(agent: StrategyAgent, treasury: TreasuryAgent) -> list[str]:
    bar = Bar(asset="BTC", ts=T0, open=100.0, high=100.0, low=100.0, close=100.0, volume=1e6)
    portfolio = treasury.mark(tick=9, ts=T0, prices={"BTC": 100.0})
    proposals = agent.propose(MarketSnapshot(tick=9, ts=T0, bars={"BTC": bar}),
                              SentimentReading(tick=9, ts=T0, mood=50, items_scored=0),
                              portfolio, positions=treasury.open_positions())
    return [f"{p.strategy}: {p.rationale}" for p in proposals]


def test_run_with_others_a_strategy_sees_and_sells_only_its_own_lot(sells_what_it_sees):
    treasury = TreasuryAgent(cash_usd=10_000.0, start=T0, opening={"BTC": (4.0, 90.0)})
    treasury.apply([_fill(Side.BUY, 2, 100.0, "dca", tick=1),
                    _fill(Side.BUY, 0.5, 100.0, sells_what_it_sees, tick=2)])
    together = StrategyAgent(StrategiesConfig(enabled=(sells_what_it_sees, "dca")), run_id="r")
    assert _propose(together, treasury) == [f"{sells_what_it_sees}: sell 0.5"]
    alone = StrategyAgent(StrategiesConfig(enabled=(sells_what_it_sees,)), run_id="r")
    assert _propose(alone, treasury) == [f"{sells_what_it_sees}: sell 6.5"]  # everything


def test_exits_judge_each_strategys_own_lot(sells_what_it_sees):
    """dca bought high, sma_cross low: dca's stop fires on its own entry, for its own lot."""
    config = StrategiesConfig(enabled=("sma_cross", "dca"),
                              sma_cross={"exits": {"stop_loss": 0.05}},
                              dca={"exits": {"stop_loss": 0.05}})
    treasury = TreasuryAgent(cash_usd=10_000.0, start=T0)
    treasury.apply([_fill(Side.BUY, 2, 95.0, "sma_cross", tick=1),
                    _fill(Side.BUY, 1, 110.0, "dca", tick=2)])
    agent = StrategyAgent(config, run_id="r")
    proposed = _propose(agent, treasury)
    assert proposed == ["dca: stop-loss: close 100.0 <= 104.5 (entry 110.0 − 5%)"]


def test_strategies_run_together_never_sell_what_another_bought(db_url):
    """The whole pipeline, sma_cross and dca on the same assets: each sale closes round trips
    only on its own strategy's lot, and each strategy's lots are exactly its own fills."""
    settings = Settings.model_validate({
        "run": {"seed": 11, "cash_usd": 100_000},
        "data": {"assets": ["BTC", "ETH"], "bars": 600},
        "strategies": {"enabled": ["sma_cross", "dca"], "sma_cross": {"fast": 5, "slow": 20},
                       "dca": {"interval_bars": 12, "amount_usd": 1_000}},
    })
    data = generate(assets=settings.data.assets, bars=600, bar_seconds=settings.data.bar_seconds,
                    start=settings.data.start, seed=settings.run.seed)
    session = Session(settings, data=data, db_url=db_url, runtime="local", gate="approve")
    session.run(600)
    fills = session.governor.state.fills
    closed = session.runtime.call("treasury", "closed_trades")
    lots = {(lot.asset, lot.strategy): lot.quantity
            for lot in session.runtime.call("treasury", "open_positions")}
    session.finish()

    net: dict[tuple[str, str | None], float] = defaultdict(float)
    sold: dict[tuple[str, str, str | None], float] = defaultdict(float)
    held_by_dca_when_sma_sold = 0
    for fill in fills:
        sign = 1 if fill.side is Side.BUY else -1
        if fill.side is Side.SELL:
            sold[(fill.ts.isoformat(), fill.asset, fill.strategy)] += fill.quantity
            if fill.strategy == "sma_cross" and net[(fill.asset, "dca")] > 0:
                held_by_dca_when_sma_sold += 1
        net[(fill.asset, fill.strategy)] += sign * fill.quantity
    assert held_by_dca_when_sma_sold >= 3, "the test needs sma_cross to sell beside dca's lots"
    closed_by = defaultdict(float)
    for trade in closed:
        closed_by[(trade.exit_time, trade.asset, trade.strategy)] += trade.size
    assert closed_by.keys() == sold.keys()
    for key, quantity in sold.items():
        assert closed_by[key] == pytest.approx(quantity), key
    for key, quantity in net.items():
        assert lots.get(key, 0.0) == pytest.approx(quantity, abs=1e-9), key

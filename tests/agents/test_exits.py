"""Exits: each trigger fires on the right bar and not before, through the real treasury, the
strategy agent, the policy and the governor (the kill switch lets exits through)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agents.exits import exit_proposals
from agents.strategies import base
from agents.strategies.base import ExitsConfig
from agents.strategy import StrategiesConfig, StrategyAgent
from agents.treasury import TreasuryAgent
from core.config import Settings
from core.feeds.synthetic import generate
from core.governor import Governor
from core.human_gate import QueueGate
from core.models import (
    CASH,
    Bar,
    Fill,
    MarketSnapshot,
    SentimentReading,
    Side,
    Stage,
    Swap,
)
from core.runtime import LocalRuntime
from core.session import Session
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.approvals import ApprovalQueue
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from tests.integration.support import market, settings, write_policy

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ENTRY_TICK = 5


def _bar(close: float, *, tick: int, low: float | None = None, high: float | None = None) -> Bar:
    low = min(close, low if low is not None else close)
    high = max(close, high if high is not None else close)
    return Bar(asset="BTC", ts=T0 + timedelta(hours=tick), open=close, high=high, low=low,
               close=close, volume=1e6)


def _snapshot(tick: int, bar: Bar) -> MarketSnapshot:
    return MarketSnapshot(tick=tick, ts=bar.ts, bars={"BTC": bar})


def _treasury_holding(entry_price: float = 100.0, quantity: float = 2.0) -> TreasuryAgent:
    treasury = TreasuryAgent(cash_usd=100_000.0, start=T0)
    treasury.apply([Fill(order_id="o-buy", decision_id="d-buy", tick=ENTRY_TICK,
                         ts=T0 + timedelta(hours=ENTRY_TICK), asset="BTC", side=Side.BUY,
                         quantity=quantity, price=entry_price, fee_usd=0.0, slippage_bps=0.0)])
    return treasury


def _first_exit(config: ExitsConfig, bars: list[Bar]):
    """Mark the real treasury bar by bar from the entry bar on; the first exit and its tick."""
    treasury = _treasury_holding()
    for offset, bar in enumerate(bars):
        tick = ENTRY_TICK + offset
        treasury.mark(tick=tick, ts=bar.ts, prices={"BTC": bar.close})
        proposals = exit_proposals(
            treasury.open_positions(), _snapshot(tick, bar),
            strategy_of=lambda position: "sma_cross", configs={"sma_cross": config},
            decision_id=lambda n, tick=tick: f"x-{tick}-{n}",
        )
        if proposals:
            assert len(proposals) == 1
            return tick, proposals[0]
    return None, None


def _bars(closes: list[float], **extremes) -> list[Bar]:
    return [_bar(close, tick=ENTRY_TICK + i, **extremes.get(i, {})) for i, close in
            enumerate(closes)]


def test_stop_loss_fires_on_the_first_close_at_or_below_the_level_not_before():
    # bar 1 dips to 90 intrabar but closes above the level: closes decide, so no exit there
    bars = [_bar(99.0, tick=5), _bar(96.0, tick=6, low=90.0), _bar(95.5, tick=7),
            _bar(95.0, tick=8), _bar(90.0, tick=9)]
    tick, proposal = _first_exit(ExitsConfig(stop_loss=0.05), bars)
    assert tick == 8
    assert proposal.rationale == "stop-loss: close 95.0 <= 95.0 (entry 100.0 − 5%)"


def test_stop_loss_rationale_names_the_close_and_the_level():
    tick, proposal = _first_exit(ExitsConfig(stop_loss=0.05), [_bar(94.1, tick=5)])
    assert tick == ENTRY_TICK
    assert proposal.rationale == "stop-loss: close 94.1 <= 95.0 (entry 100.0 − 5%)"


def test_take_profit_fires_on_the_first_close_at_or_above_the_level_not_before():
    bars = [_bar(101.0, tick=5), _bar(109.0, tick=6, high=125.0), _bar(109.99, tick=7),
            _bar(110.5, tick=8)]
    tick, proposal = _first_exit(ExitsConfig(take_profit=0.10), bars)
    assert tick == 8
    assert proposal.rationale == "take-profit: close 110.5 >= 110.0 (entry 100.0 + 10%)"


def test_trailing_stop_follows_the_peak_close():
    # peak 110 -> level 104.5 (104.6 holds); peak 120 -> level 114 (114.1 holds, 113.9 exits)
    closes = [105.0, 110.0, 104.6, 120.0, 114.1, 113.9]
    tick, proposal = _first_exit(ExitsConfig(trailing_stop=0.05), _bars(closes))
    assert tick == ENTRY_TICK + 5
    assert proposal.rationale == "trailing stop: close 113.9 <= 114.0 (peak 120.0 − 5%)"


def test_a_trailing_stop_below_entry_fires_from_the_entry_price_when_price_only_falls():
    tick, proposal = _first_exit(ExitsConfig(trailing_stop=0.10), _bars([95.0, 91.0, 90.0]))
    assert tick == ENTRY_TICK + 2
    assert "(peak 100.0 − 10%)" in proposal.rationale


def test_time_exit_fires_at_the_close_of_the_max_hold_bars_th_bar():
    tick, proposal = _first_exit(ExitsConfig(max_hold_bars=3), _bars([100.0] * 6))
    assert tick == ENTRY_TICK + 2  # bars 5, 6, 7 held; fills at bar 8's open
    assert proposal.rationale == (
        "time exit: held 3 bars >= max_hold_bars 3 (entered at tick 5)"
    )


def test_without_a_trigger_no_exit_is_proposed():
    tick, _ = _first_exit(ExitsConfig(stop_loss=0.2, take_profit=0.2, trailing_stop=0.2,
                                      max_hold_bars=50), _bars([90.0, 110.0, 95.0, 105.0]))
    assert tick is None


def test_an_exit_sells_the_whole_position_for_cash_and_reduces_risk():
    _, proposal = _first_exit(ExitsConfig(stop_loss=0.05), [_bar(94.0, tick=5)])
    assert proposal.action == Swap(sell="BTC", buy=CASH)
    assert proposal.quantity == 2.0
    assert proposal.notional_usd == pytest.approx(2.0 * 94.0)
    assert proposal.reduces_risk and proposal.strategy == "sma_cross"
    assert proposal.tick == ENTRY_TICK


def test_no_exit_without_a_position():
    agent = StrategyAgent(_exits_config(stop_loss=0.01, max_hold_bars=1), run_id="r")
    treasury = TreasuryAgent(cash_usd=1_000.0, start=T0)
    snapshot = _snapshot(9, _bar(50.0, tick=9))
    portfolio = treasury.mark(tick=9, ts=snapshot.ts, prices={"BTC": 50.0})
    proposals = agent.propose(snapshot, _sentiment(9), portfolio,
                              positions=treasury.open_positions())
    assert proposals == []


def test_treasury_positions_carry_entry_tick_peak_and_opening_decision():
    treasury = _treasury_holding(entry_price=100.0)
    treasury.mark(tick=6, ts=T0, prices={"BTC": 130.0})
    treasury.mark(tick=7, ts=T0, prices={"BTC": 90.0})
    (position,) = treasury.open_positions()
    assert (position.asset, position.entry_tick, position.opened_by) == ("BTC", 5, "d-buy")
    assert position.peak_price == 130.0 and position.entry_price == 100.0


# -- the strategy agent: attribution and dedupe ------------------------------------------------


def _sentiment(tick: int) -> SentimentReading:
    return SentimentReading(tick=tick, ts=T0, mood=50, items_scored=0)


def _exits_config(**exits) -> StrategiesConfig:
    return StrategiesConfig(enabled=("sma_cross",), sma_cross={"exits": exits})


@pytest.fixture
def always_sells():
    """A plugin that sells whatever is held every tick, and buys when flat."""

    @base.register
    class AlwaysSells(base.Strategy):
        name = "test_always_sells"
        config_model = base.StrategyConfig

        def required_indicators(self):
            return []

        def signals(self, snapshot, sentiment, portfolio):
            held = portfolio.quantity("BTC")
            if not held:
                return [base.Signal("BTC", Side.BUY, 0.5, "enter", portfolio.cash_usd)]
            return [base.Signal("BTC", Side.SELL, 0.5, "plugin sell",
                                portfolio.position_value("BTC"), quantity=held)]

    yield AlwaysSells.name
    base._REGISTRY.pop(AlwaysSells.name, None)


def test_the_exit_wins_over_a_plugin_sell_of_the_same_asset(always_sells):
    config = StrategiesConfig(enabled=(always_sells,),
                              **{always_sells: {"exits": {"stop_loss": 0.05}}})
    agent = StrategyAgent(config, run_id="r")
    treasury = _treasury_holding()
    snapshot = _snapshot(6, _bar(90.0, tick=6))
    portfolio = treasury.mark(tick=6, ts=snapshot.ts, prices={"BTC": 90.0})
    proposals = agent.propose(snapshot, _sentiment(6), portfolio,
                              positions=treasury.open_positions())
    assert [p.rationale.split(":")[0] for p in proposals] == ["stop-loss"]
    assert proposals[0].strategy == always_sells and proposals[0].decision_id == "r-000006-0"
    # no trigger: the plugin's own sell goes through
    snapshot = _snapshot(7, _bar(99.0, tick=7))
    portfolio = treasury.mark(tick=7, ts=snapshot.ts, prices={"BTC": 99.0})
    proposals = agent.propose(snapshot, _sentiment(7), portfolio,
                              positions=treasury.open_positions())
    assert [p.rationale for p in proposals] == ["plugin sell"]


@pytest.fixture
def always_buys():
    """A plugin that buys 1,000 of BTC every tick, held or not (a DCA with interval 1)."""

    @base.register
    class AlwaysBuys(base.Strategy):
        name = "test_always_buys"
        config_model = base.StrategyConfig

        def required_indicators(self):
            return []

        def signals(self, snapshot, sentiment, portfolio):
            return [base.Signal("BTC", Side.BUY, 0.5, "buy again", 1_000.0)]

    yield AlwaysBuys.name
    base._REGISTRY.pop(AlwaysBuys.name, None)


def _buys_after_a_stop(plugin: str, **exits) -> list[tuple[int, list[str]]]:
    """Each tick's proposals (their rationales) from the stop-out at tick 6 to tick 10."""
    agent = StrategyAgent(StrategiesConfig(enabled=(plugin,), **{plugin: {"exits": exits}}),
                          run_id="r")
    treasury = _treasury_holding()
    seen = []
    for tick in range(6, 11):
        snapshot = _snapshot(tick, _bar(90.0, tick=tick))
        portfolio = treasury.mark(tick=tick, ts=snapshot.ts, prices={"BTC": 90.0})
        proposals = agent.propose(snapshot, _sentiment(tick), portfolio,
                                  positions=treasury.open_positions())
        seen.append((tick, [p.rationale.split(":")[0] for p in proposals]))
        if tick == 6:  # the stop's sale fills: flat from here on
            treasury.apply([Fill(order_id="o-exit", decision_id=proposals[0].decision_id,
                                 tick=7, ts=snapshot.ts, asset="BTC", side=Side.SELL,
                                 quantity=2.0, price=90.0, fee_usd=0.0, slippage_bps=0.0)])
    return seen


def test_an_exits_bar_buys_none_of_the_asset_and_a_cooldown_holds_buys_back(always_buys):
    # regression: the stop and a buy filled together, and the new lot kept the old entry price
    assert _buys_after_a_stop(always_buys, stop_loss=0.05) == [
        (6, ["stop-loss"]), (7, ["buy again"]), (8, ["buy again"]), (9, ["buy again"]),
        (10, ["buy again"])]
    assert _buys_after_a_stop(always_buys, stop_loss=0.05, cooldown_bars=2) == [
        (6, ["stop-loss"]), (7, []), (8, []), (9, ["buy again"]), (10, ["buy again"])]


def test_a_position_gets_the_exits_of_the_strategy_whose_buy_opened_it(always_sells):
    config = StrategiesConfig(enabled=("sma_cross", always_sells),
                              sma_cross={"exits": {"stop_loss": 0.5}},
                              **{always_sells: {"exits": {"stop_loss": 0.05}}})
    agent = StrategyAgent(config, run_id="r")
    treasury = TreasuryAgent(cash_usd=1_000.0, start=T0)
    flat = treasury.mark(tick=4, ts=T0, prices={"BTC": 100.0})
    (buy,) = agent.propose(_snapshot(4, _bar(100.0, tick=4)), _sentiment(4), flat, positions=[])
    assert buy.strategy == always_sells
    treasury.apply([Fill(order_id="o", decision_id=buy.decision_id, tick=5, ts=T0, asset="BTC",
                         side=Side.BUY, quantity=5.0, price=100.0, fee_usd=0.0,
                         slippage_bps=0.0, strategy=buy.strategy)])  # as the executor fills it
    portfolio = treasury.mark(tick=5, ts=T0, prices={"BTC": 94.0})
    proposals = agent.propose(_snapshot(5, _bar(94.0, tick=5)), _sentiment(5), portfolio,
                              positions=treasury.open_positions())
    assert proposals[0].strategy == always_sells
    assert proposals[0].rationale.startswith("stop-loss: close 94.0 <= 95.0")
    # a lot no running strategy bought, with two strategies running: no exits, and counted
    stranger = TreasuryAgent(cash_usd=1_000.0, start=T0)
    stranger.apply([Fill(order_id="o", decision_id="elsewhere", tick=5, ts=T0, asset="BTC",
                         side=Side.BUY, quantity=5.0, price=100.0, fee_usd=0.0,
                         slippage_bps=0.0)])
    portfolio = stranger.mark(tick=5, ts=T0, prices={"BTC": 10.0})
    proposals = agent.propose(_snapshot(5, _bar(10.0, tick=5)), _sentiment(5), portfolio,
                              positions=stranger.open_positions())
    assert all(not p.rationale.startswith("stop-loss") for p in proposals)
    assert agent.health()["unattributed_positions"] == 1


# -- config ------------------------------------------------------------------------------------


def test_exits_load_from_an_inline_table_or_a_sub_table(tmp_path):
    inline = tmp_path / "inline.toml"
    inline.write_text('[strategies.sma_cross]\nexits = { stop_loss = 0.05 }\n', encoding="utf-8")
    table = tmp_path / "table.toml"
    table.write_text('[strategies.sma_cross.exits]\ntrailing_stop = 0.1\nmax_hold_bars = 24\n',
                     encoding="utf-8")
    assert Settings.load(inline).strategies.params("sma_cross").exits == ExitsConfig(
        stop_loss=0.05)
    assert Settings.load(table).strategies.params("sma_cross").exits == ExitsConfig(
        trailing_stop=0.1, max_hold_bars=24)


@pytest.mark.parametrize(
    ("exits", "field", "problem"),
    [
        ({"stop_loss": 0}, "sma_cross.exits.stop_loss", "greater than 0"),
        ({"take_profit": -0.1}, "sma_cross.exits.take_profit", "greater than 0"),
        ({"trailing_stop": 1.5}, "sma_cross.exits.trailing_stop", "less than 1"),
        ({"max_hold_bars": 0}, "sma_cross.exits.max_hold_bars", "greater than 0"),
        ({"stoploss": 0.05}, "sma_cross.exits.stoploss", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_exit_setting_names_the_field(exits, field, problem):
    with pytest.raises(ValidationError) as caught:
        StrategiesConfig(enabled=("sma_cross",), sma_cross={"exits": exits})
    message = str(caught.value)
    assert field in message and problem in message


# -- through the governor: the policy, the kill switch, a backtest -----------------------------


def _fills_by_rationale(engine) -> dict[str, str]:
    """Decision id -> rationale, for every proposal whose order filled."""
    entries = DecisionLog(engine).entries()
    rationale = {e.decision_id: e.payload["proposal"]["rationale"] for e in entries
                 if e.stage == Stage.PROPOSAL_CREATED.value}
    return {e.decision_id: rationale[e.decision_id] for e in entries
            if e.stage == Stage.ORDER_FILLED.value}


def test_the_kill_switch_lets_a_time_exit_fill_while_buys_are_refused(tmp_path, db_url):
    policy_path = write_policy(tmp_path, auto_max=100_000)
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    s = s.model_copy(update={"strategies": StrategiesConfig(
        enabled=("sma_cross",), sma_cross={"fast": 5, "slow": 20, "exits": {"max_hold_bars": 3}})})
    engine = make_engine(db_url)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=300), db_url=db_url, run_id="k"))
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine),
                        human_gate=QueueGate(ApprovalQueue(engine)), run_id="k")
    tick = 0
    while not (governor.state.portfolio and governor.state.portfolio.positions):
        governor.step(tick)
        tick += 1
    entered_at = tick - 1  # the bar whose open filled the entry
    governor.engage_kill_switch(by="test:alice", reason="drill")
    engaged_at = len(DecisionLog(engine).entries())
    for t in range(tick, 300):
        governor.step(t)
    after = DecisionLog(engine).entries()[engaged_at:]
    created = {e.decision_id: e.payload["proposal"] for e in after
               if e.stage == Stage.PROPOSAL_CREATED.value}
    denied = {e.decision_id for e in after if e.stage == Stage.POLICY_DENIED.value}
    filled = {e.decision_id: e.payload for e in after if e.stage == Stage.ORDER_FILLED.value}
    exits = [d for d, p in created.items() if p["rationale"].startswith("time exit")]
    buys = {d for d, p in created.items() if p["action"]["sell"] == "USD"}
    assert buys and buys <= denied and not buys & set(filled), "buys must be refused"
    assert exits and set(exits) <= set(filled)
    first = exits[0]
    assert created[first]["tick"] == entered_at + 2  # judged at the close of the 3rd bar held
    assert filled[first]["tick"] == entered_at + 3 and filled[first]["side"] == "sell"
    assert governor.state.portfolio.positions == {}
    assert verify(engine).ok


def test_a_backtest_with_exits_logs_exit_fills(db_url):
    bars = 400
    s = Settings.model_validate({
        "run": {"seed": 7, "cash_usd": 100_000},
        "data": {"assets": ["BTC", "ETH"], "bars": bars},
        "strategies": {"enabled": ["sma_cross"],
                       "sma_cross": {"fast": 5, "slow": 20,
                                     "exits": {"stop_loss": 0.01, "take_profit": 0.01,
                                               "trailing_stop": 0.01}}},
    })
    data = generate(assets=s.data.assets, bars=bars, bar_seconds=s.data.bar_seconds,
                    start=s.data.start, seed=s.run.seed)
    session = Session(s, data=data, db_url=db_url, runtime="local", gate="approve")
    session.governor.run(range(bars))
    session.finish()
    fills = _fills_by_rationale(make_engine(db_url)).values()
    exit_fills = [r for r in fills if r.startswith(("stop-loss", "take-profit", "trailing stop"))]
    assert exit_fills, f"no exit filled; fills: {list(fills)[:5]}"
    assert verify(make_engine(db_url)).ok

"""The SMA-cross plugin and the strategy agent that runs plugins and numbers their proposals."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent, IndicatorSpec
from agents.market_intel import MarketIntelAgent
from agents.strategies.base import _REGISTRY, Signal, Strategy, StrategyConfig, register
from agents.strategies.sma_cross import SmaCross, SmaCrossConfig
from agents.strategy import StrategiesConfig, StrategyAgent
from core.errors import StrategyError
from core.feeds.base import MarketData
from core.models import (
    CASH,
    Bar,
    MarketSnapshot,
    PortfolioState,
    Position,
    SentimentReading,
    Side,
    Swap,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FAST, SLOW = "sma_10", "sma_30"


def _bar(asset: str = "BTC", price: float = 100.0) -> Bar:
    return Bar(asset=asset, ts=T0, open=price, high=price, low=price, close=price, volume=1e6)


def _snapshot(
    *, now: dict[str, float | None], before: dict[str, float | None], tick: int = 40
) -> MarketSnapshot:
    return MarketSnapshot(
        tick=tick,
        ts=T0 + timedelta(hours=tick),
        bars={"BTC": _bar()},
        indicators={"BTC": now},
        previous_indicators={"BTC": before},
    )


def _sentiment(tick: int = 40) -> SentimentReading:
    return SentimentReading(tick=tick, ts=T0, per_asset={}, mood=50, items_scored=0)


def _portfolio(*, cash: float = 100_000.0, btc: float = 0.0, price: float = 100.0) -> PortfolioState:
    positions = {"BTC": Position(asset="BTC", quantity=btc, avg_entry_price=90.0)} if btc else {}
    return PortfolioState(
        tick=0,
        ts=T0,
        cash_usd=cash,
        positions=positions,
        prices={"BTC": price},
        initial_equity_usd=100_000.0,
    )


def _strategy() -> SmaCross:
    return SmaCross(SmaCrossConfig())


CROSS_UP = dict(now={FAST: 101.0, SLOW: 100.0}, before={FAST: 99.0, SLOW: 100.0})
CROSS_DOWN = dict(now={FAST: 99.0, SLOW: 100.0}, before={FAST: 101.0, SLOW: 100.0})


def test_buys_all_cash_when_fast_crosses_above_slow_and_nothing_is_held():
    signals = _strategy().signals(_snapshot(**CROSS_UP), _sentiment(), _portfolio(cash=70_000))
    assert len(signals) == 1
    signal = signals[0]
    assert (signal.asset, signal.side) == ("BTC", Side.BUY)
    assert signal.notional_usd == 70_000
    assert signal.quantity is None
    assert 0.5 <= signal.confidence <= 1.0
    assert "crossed above" in signal.rationale


def test_a_touch_then_cross_above_counts_as_the_cross():
    snapshot = _snapshot(now={FAST: 101.0, SLOW: 100.0}, before={FAST: 100.0, SLOW: 100.0})
    signals = _strategy().signals(snapshot, _sentiment(), _portfolio())
    assert [s.side for s in signals] == [Side.BUY]


def test_no_buy_on_a_cross_above_while_already_holding():
    assert _strategy().signals(_snapshot(**CROSS_UP), _sentiment(), _portfolio(btc=1.0)) == []


def test_no_signal_while_fast_stays_above_slow():
    snapshot = _snapshot(now={FAST: 102.0, SLOW: 100.0}, before={FAST: 101.0, SLOW: 100.0})
    assert _strategy().signals(snapshot, _sentiment(), _portfolio()) == []
    assert _strategy().signals(snapshot, _sentiment(), _portfolio(btc=2.0)) == []


def test_sells_the_whole_position_when_fast_crosses_below_while_holding():
    portfolio = _portfolio(btc=2.5, price=120.0)
    signals = _strategy().signals(_snapshot(**CROSS_DOWN), _sentiment(), portfolio)
    assert len(signals) == 1
    signal = signals[0]
    assert (signal.asset, signal.side) == ("BTC", Side.SELL)
    assert signal.quantity == 2.5
    assert signal.notional_usd == pytest.approx(2.5 * 120.0)
    assert "crossed below" in signal.rationale



def test_of_many_assets_only_the_crosses_that_may_trade_signal_in_snapshot_order():
    rows = {  # asset: (now fast, before fast), slow at 100 throughout
        "ADA": (100.2, None), "BTC": (99.7, 100.1), "DOGE": (99.0, 101.0),
        "ETH": (100.2, 99.9), "SOL": (101.0, 99.0), "XRP": (100.5, 100.4),
    }
    snapshot = MarketSnapshot(
        tick=40, ts=T0 + timedelta(hours=40),
        bars={asset: _bar(asset) for asset in rows},
        indicators={asset: {FAST: now, SLOW: 100.0} for asset, (now, _) in rows.items()},
        previous_indicators={
            asset: {FAST: before, SLOW: 100.0} for asset, (_, before) in rows.items()
        },
    )
    held = {asset: Position(asset=asset, quantity=2.0, avg_entry_price=90.0)
            for asset in ("BTC", "SOL")}
    portfolio = PortfolioState(tick=0, ts=T0, cash_usd=5_000.0, positions=held,
                               prices={"BTC": 110.0}, initial_equity_usd=10_000.0)
    signals = _strategy().signals(snapshot, _sentiment(), portfolio)
    # ADA warms up, DOGE has nothing to sell, SOL is already held, XRP did not cross
    assert [(s.asset, s.side, s.notional_usd, s.quantity) for s in signals] == [
        ("BTC", Side.SELL, 220.0, 2.0), ("ETH", Side.BUY, 5_000.0, None)]
    assert [s.confidence for s in signals] == pytest.approx([0.8, 0.7])
    assert [s.rationale for s in signals] == ["SMA10 crossed below SMA30 (-30.0 bps)",
                                              "SMA10 crossed above SMA30 (+20.0 bps)"]

def test_no_sell_on_a_cross_below_with_nothing_held():
    assert _strategy().signals(_snapshot(**CROSS_DOWN), _sentiment(), _portfolio()) == []


@pytest.mark.parametrize(
    ("now", "before"),
    [
        ({FAST: None, SLOW: 100.0}, {FAST: 99.0, SLOW: 100.0}),
        ({FAST: 101.0, SLOW: None}, {FAST: 99.0, SLOW: 100.0}),
        ({FAST: 101.0, SLOW: 100.0}, {FAST: None, SLOW: 100.0}),
        ({FAST: 101.0, SLOW: 100.0}, {FAST: 99.0, SLOW: None}),
        ({FAST: 101.0, SLOW: 100.0}, {}),
        ({}, {}),
    ],
)
def test_nothing_happens_during_warm_up(now, before):
    snapshot = _snapshot(now=now, before=before)
    assert _strategy().signals(snapshot, _sentiment(), _portfolio()) == []
    assert _strategy().signals(snapshot, _sentiment(), _portfolio(btc=1.0)) == []


def _market(close: list[float]) -> MarketData:
    closes = np.array([close], dtype=np.float64)
    opens = np.concatenate([closes[:, :1], closes[:, :-1]], axis=1)
    start_ns = int(T0.timestamp()) * 1_000_000_000
    return MarketData(
        assets=("BTC",),
        timestamps=start_ns + np.arange(len(close), dtype=np.int64) * 3_600_000_000_000,
        open=opens,
        high=np.maximum(opens, closes),
        low=np.minimum(opens, closes),
        close=closes,
        volume=np.full_like(closes, 1e6),
    )


# SMA2 vs SMA4 on this V then inverted V (worked by hand): fast - slow is -1, -1, -1, -0.5 at
# ticks 3..6, +0.5 at tick 7 (cross above), stays above through tick 11, -0.5 at 12 (cross below).
V_SERIES = [10, 9, 8, 7, 6, 5, 6, 7, 8, 9, 10, 9, 8, 7, 6, 5]


def _run_ticks(portfolio: PortfolioState) -> list[tuple[int, Side]]:
    config = StrategiesConfig.model_validate({"sma_cross": {"fast": 2, "slow": 4}})
    agent = StrategyAgent(config, run_id="run")
    intel = MarketIntelAgent(
        _market(V_SERIES), ComputeAgent(), specs=agent.required_indicators()
    )
    out = []
    for tick in range(intel.n_bars):
        snapshot = intel.observe(tick)
        for proposal in agent.propose(snapshot, _sentiment(tick), portfolio):
            out.append((proposal.tick, proposal.side))
    return out


def test_buy_proposal_lands_exactly_on_the_crossing_bar():
    assert _run_ticks(_portfolio()) == [(7, Side.BUY)]


def test_sell_proposal_lands_exactly_on_the_bar_crossing_below_while_holding():
    assert _run_ticks(_portfolio(btc=3.0)) == [(12, Side.SELL)]


def test_agent_turns_a_buy_signal_into_a_cash_for_asset_swap():
    agent = StrategyAgent(StrategiesConfig(), run_id="r1")
    [proposal] = agent.propose(_snapshot(**CROSS_UP, tick=40), _sentiment(), _portfolio())
    assert proposal.action == Swap(sell=CASH, buy="BTC")
    assert proposal.strategy == "sma_cross"
    assert proposal.notional_usd == 100_000
    assert proposal.tick == 40
    assert agent.health() == {"strategies": ["sma_cross"], "proposed": 1}


def test_agent_turns_a_sell_signal_into_an_exit_of_the_exact_quantity():
    agent = StrategyAgent(StrategiesConfig(), run_id="r1")
    [proposal] = agent.propose(_snapshot(**CROSS_DOWN), _sentiment(), _portfolio(btc=4.0))
    assert proposal.action == Swap(sell="BTC", buy=CASH)
    assert proposal.quantity == 4.0
    assert proposal.reduces_risk


def test_required_indicators_are_the_configured_fast_and_slow_sma():
    config = StrategiesConfig.model_validate({"sma_cross": {"fast": 5, "slow": 20}})
    agent = StrategyAgent(config, run_id="r")
    assert sorted(spec.key for spec in agent.required_indicators()) == ["sma_20", "sma_5"]


@pytest.mark.parametrize(("fast", "slow"), [(30, 10), (20, 20)])
def test_config_rejects_fast_not_shorter_than_slow_naming_both(fast, slow):
    with pytest.raises(ValidationError) as info:
        SmaCrossConfig(fast=fast, slow=slow)
    message = str(info.value)
    assert f"fast ({fast})" in message
    assert f"slow ({slow})" in message


def test_config_rejects_unknown_parameter():
    with pytest.raises(ValidationError, match="fastt"):
        SmaCrossConfig.model_validate({"fastt": 5})


def test_strategies_config_rejects_an_unknown_enabled_strategy_and_lists_known():
    with pytest.raises(ValidationError) as info:
        StrategiesConfig(enabled=("moonshot",))
    message = str(info.value)
    assert "unknown strategy 'moonshot'" in message
    assert "known:" in message and "sma_cross" in message


def test_strategies_config_rejects_a_parameter_table_for_an_unknown_strategy():
    with pytest.raises(ValidationError, match="unknown strategy 'moonshot'"):
        StrategiesConfig.model_validate({"moonshot": {"x": 1}})


def test_strategies_config_rejects_unknown_parameter_keys():
    with pytest.raises(ValidationError, match="fastt"):
        StrategiesConfig.model_validate({"sma_cross": {"fastt": 3}})


def test_strategies_config_validates_plugin_parameters():
    with pytest.raises(ValidationError, match=r"fast \(9\) must be shorter than slow \(3\)"):
        StrategiesConfig.model_validate({"sma_cross": {"fast": 9, "slow": 3}})


def test_strategies_config_defaults_a_plugin_without_a_table():
    assert StrategiesConfig().params("sma_cross") == SmaCrossConfig()
    config = StrategiesConfig.model_validate({"sma_cross": {"fast": 3, "slow": 7}})
    assert config.params("sma_cross") == SmaCrossConfig(fast=3, slow=7)


class _NoConfig(StrategyConfig):
    pass


@pytest.fixture
def throwaway() -> Iterator[Callable[..., type[Strategy]]]:
    """A registered plugin with a unique name, removed from the registry afterwards."""
    registered: list[str] = []

    def make(signals_impl) -> type[Strategy]:
        name = f"test_plugin_{uuid.uuid4().hex[:8]}"
        cls = type(
            name,
            (Strategy,),
            {
                "name": name,
                "config_model": _NoConfig,
                "required_indicators": lambda self: [IndicatorSpec(name="sma", period=3)],
                "signals": signals_impl,
            },
        )
        register(cls)
        registered.append(name)
        return cls

    yield make
    for name in registered:
        _REGISTRY.pop(name, None)


def test_a_plugin_that_raises_becomes_a_strategy_error_naming_it(throwaway):
    def boom(self, snapshot, sentiment, portfolio):
        raise RuntimeError("kaboom")

    plugin = throwaway(boom)
    agent = StrategyAgent(StrategiesConfig(enabled=(plugin.name,)), run_id="r")
    with pytest.raises(StrategyError) as info:
        agent.propose(_snapshot(**CROSS_UP), _sentiment(), _portfolio())
    assert plugin.name in str(info.value)
    assert "kaboom" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_decision_ids_are_unique_and_include_the_tick(throwaway):
    def three(self, snapshot, sentiment, portfolio):
        return [
            Signal(asset="BTC", side=Side.BUY, confidence=0.9, rationale="a", notional_usd=10),
            Signal(asset="BTC", side=Side.BUY, confidence=0.9, rationale="b", notional_usd=0),
            Signal(asset="BTC", side=Side.BUY, confidence=0.9, rationale="c", notional_usd=20),
            Signal(asset="BTC", side=Side.BUY, confidence=0.9, rationale="d", notional_usd=30),
        ]

    plugin = throwaway(three)
    agent = StrategyAgent(StrategiesConfig(enabled=(plugin.name, "sma_cross")), run_id="run7")
    ids = []
    for tick in (5, 6, 1234):
        proposals = agent.propose(_snapshot(**CROSS_UP, tick=tick), _sentiment(tick), _portfolio())
        # three non-zero plugin signals (the zero one is dropped) plus the sma_cross buy
        assert [p.rationale for p in proposals[:3]] == ["a", "c", "d"]
        assert len(proposals) == 4
        for proposal in proposals:
            assert proposal.tick == tick
            assert f"{tick:06d}" in proposal.decision_id
            assert proposal.decision_id.startswith("run7-")
        ids.extend(p.decision_id for p in proposals)
    assert len(ids) == len(set(ids)) == 12
    assert agent.health()["proposed"] == 12


def test_strategies_config_rejects_a_strategy_enabled_twice():
    """Regression: a plugin enabled twice proposed every exit twice and oversold."""
    with pytest.raises(ValidationError, match="strategies enabled twice: sma_cross"):
        StrategiesConfig(enabled=("sma_cross", "sma_cross"))


def test_after_active_bars_a_backtest_bar_tests_only_the_crossing_assets_and_signals_the_same():
    """A backtest's strategy has seen the whole feed's averages (active_bars): on each bar it
    reads only the assets whose averages crossed there, and signals exactly what reading every
    asset gives, for a flat book (buys) and a book holding everything (sells)."""
    from core.feeds.synthetic import generate

    data = generate(assets=[f"A{i}" for i in range(6)], bars=400, bar_seconds=300, start=T0, seed=5)
    strategy = SmaCross(SmaCrossConfig(fast=5, slow=20))
    intel = MarketIntelAgent(data, ComputeAgent(), specs=strategy.required_indicators(),
                             precompute=True)
    active = strategy.active_bars(intel.indicator_arrays())
    everything = PortfolioState(
        tick=0, ts=T0, cash_usd=1_000.0, initial_equity_usd=1_000.0,
        positions={a: Position(asset=a, quantity=1.0, avg_entry_price=100.0) for a in data.assets},
        prices=dict.fromkeys(data.assets, 100.0))
    seen = 0
    for tick in range(len(active)):
        snapshot = intel.observe(tick)
        for book in (_portfolio(), everything):
            narrowed = strategy.signals(snapshot, _sentiment(tick), book)
            crossing, strategy.crossing = strategy.crossing, None  # read every asset
            assert strategy.signals(snapshot, _sentiment(tick), book) == narrowed, tick
            strategy.crossing = crossing
            seen += len(narrowed)
        if not active[tick]:
            assert not strategy._may_cross(snapshot), tick
    assert seen > 20  # both ways, several assets


def test_crossings_kept_from_another_feed_are_not_trusted():
    """A strategy that saw one feed's averages, shown another feed of the same shape, signals
    what a fresh strategy signals there (the kept crossings are checked against the snapshot)."""
    from core.feeds.synthetic import generate

    config = SmaCrossConfig(fast=5, slow=20)
    seen, shown = (generate(assets=["A0", "A1"], bars=300, bar_seconds=300, start=T0, seed=seed)
                   for seed in (1, 2))
    stale, fresh = SmaCross(config), SmaCross(config)
    specs = stale.required_indicators()
    stale.active_bars(MarketIntelAgent(seen, ComputeAgent(), specs=specs,
                                       precompute=True).indicator_arrays())
    intel = MarketIntelAgent(shown, ComputeAgent(), specs=specs, precompute=True)
    signalled = 0
    for tick in range(shown.n_bars):
        snapshot = intel.observe(tick)
        expected = fresh.signals(snapshot, _sentiment(tick), _portfolio())
        assert stale.signals(snapshot, _sentiment(tick), _portfolio()) == expected, tick
        signalled += len(expected)
    assert signalled > 5

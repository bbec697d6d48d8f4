"""The treasury regime strategy: a lending base layer, a tactical layer whose mode follows the
phase, and rebalancing on drift, on schedule and on a phase change."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.compute import ComputeAgent
from agents.strategies.treasury_phase import (
    Mode,
    ModeFollower,
    Phase,
    PhaseConfig,
    classify,
)
from agents.strategies.treasury_regime import TreasuryRegime, TreasuryRegimeConfig
from agents.strategy import StrategiesConfig, StrategyAgent
from core.models import CASH, Deposit, Side, Swap, Withdraw
from core.validation import describe
from tests.agents.strategy_support import (
    assert_no_look_ahead,
    portfolio,
    sentiment,
    snapshot,
)

KEYS = ("zscore_200", "ema_20", "ema_100", "volatility_24", "volatility_200")
OFF_SCHEDULE = 5  # a tick that is not a multiple of rebalance_every_bars (168)


def _values(*, z=0.0, fast=101.0, slow=100.0, short_vol=0.01, long_vol=0.01):
    return dict(zip(KEYS, (z, fast, slow, short_vol, long_vol), strict=True))


AGGRESSIVE = _values()
CONSERVATIVE = _values(z=2.5)
ACCUMULATION = _values(z=-1.5, fast=99.0)
HEDGE = _values(fast=99.0)


def _snap(values, *, tick=OFF_SCHEDULE, prices=None):
    prices = prices or {"BTC": 100.0}
    return snapshot(prices=prices, now={a: values for a in prices}, tick=tick)


def _strategy(**params) -> TreasuryRegime:
    return TreasuryRegime(TreasuryRegimeConfig(confirm_bars=1, **params))


def _following(values, **params) -> TreasuryRegime:
    """A strategy that already follows the mode of ``values`` (its first bar confirms it)."""
    strategy = _strategy(**params)
    strategy.signals(_snap(values, tick=1), sentiment(), _at_target())
    assert strategy.mode is not None
    return strategy


def _at_target(btc: float = 40_000.0, base: float = 60_000.0, cash: float = 0.0, price=100.0):
    """A book with ``base`` lent (AUSDC at 1), ``btc`` worth of BTC, and ``cash``."""
    return portfolio(cash=cash, held={"AUSDC": (base, 1.0), "BTC": (btc / price, price)},
                     prices={"BTC": price})


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


@pytest.mark.parametrize(
    ("values", "mood", "mode", "why"),
    [
        (_values(short_vol=0.03), 50, Mode.HEDGE, "volatility spike"),
        (_values(z=-1.5, fast=99.0), 50, Mode.ACCUMULATION, "cheap"),
        (_values(), 10, Mode.ACCUMULATION, "cheap"),  # fear
        (_values(z=2.5), 10, Mode.CONSERVATIVE, "rich"),  # fear, but the valuation says rich
        (_values(fast=99.0), 50, Mode.HEDGE, "downtrend"),
        (_values(z=2.5), 50, Mode.CONSERVATIVE, "rich in an uptrend"),
        (_values(), 90, Mode.CONSERVATIVE, "rich in an uptrend"),  # greed
        (_values(z=-1.5), 90, Mode.ACCUMULATION, "cheap"),  # greed, but the valuation says cheap
        (_values(), 50, Mode.AGGRESSIVE, "uptrend at fair value"),
    ],
)
def test_each_phase_gets_its_mode(values, mood, mode, why):
    phase = classify(values, mood, PhaseConfig())
    assert phase is not None
    assert phase.mode is mode
    assert phase.why.startswith(why)


def test_no_mode_while_any_input_is_warming_up():
    for key in KEYS:
        assert classify({**_values(), key: None}, 50, PhaseConfig()) is None


@pytest.mark.parametrize(
    ("values", "tactical"),
    [(AGGRESSIVE, 40_000), (ACCUMULATION, 24_000), (CONSERVATIVE, 12_000), (HEDGE, 0)],
)
def test_from_cash_it_deposits_the_base_layer_and_buys_the_mode_s_tactical_share(values, tactical):
    config = StrategiesConfig.model_validate(
        {"enabled": ["treasury_regime"], "treasury_regime": {"confirm_bars": 1}})
    proposals = StrategyAgent(config, run_id="r").propose(_snap(values), sentiment(),
                                                          portfolio(cash=100_000))
    deposit, *buys = proposals
    assert deposit.action == Deposit(asset="USDC", protocol="aave-v3", receipt="AUSDC")
    assert deposit.asset == "AUSDC"  # the position the deposit adds to
    assert deposit.notional_usd == pytest.approx(60_000)
    assert deposit.confidence == 0.9
    assert "deposit into aave-v3: base layer" in deposit.rationale
    assert [(p.action, round(p.notional_usd)) for p in buys] == (
        [(Swap(sell=CASH, buy="BTC"), tactical)] if tactical else [])


def test_nothing_while_at_target_off_schedule():
    assert _following(AGGRESSIVE).signals(_snap(AGGRESSIVE), sentiment(), _at_target()) == []


def test_the_first_confirmed_mode_allocates_the_tactical_layer():
    book = _at_target(btc=0, cash=40_000)
    [buy] = _strategy().signals(_snap(CONSERVATIVE), sentiment(), book)
    assert buy.notional_usd == pytest.approx(12_000)
    assert "mode confirmed: conservative" in buy.rationale


def test_drift_of_five_percent_or_less_is_left_alone():
    # BTC up 20%: 48,000 of 108,000; targets 64,800 base and 43,200 BTC: 4.4% off
    book = _at_target(btc=48_000, price=120.0)
    snap = _snap(AGGRESSIVE, prices={"BTC": 120.0})
    assert _following(AGGRESSIVE).signals(snap, sentiment(), book) == []


def test_drift_over_five_percent_sells_the_excess_then_deposits_the_proceeds():
    strategy = _following(AGGRESSIVE)
    prices = {"BTC": 130.0}  # 52,000 of 112,000: 6.4% over target
    [sell] = strategy.signals(_snap(AGGRESSIVE, prices=prices), sentiment(),
                              _at_target(btc=52_000, price=130.0))
    assert (sell.asset, sell.side) == ("BTC", Side.SELL)
    assert sell.notional_usd == pytest.approx(52_000 - 44_800)
    assert sell.quantity == pytest.approx(7_200 / 130.0)
    assert "drift 6.4% > 5%" in sell.rationale
    # the next bar, with the sale's cash in hand, the base layer is still 6.4% short
    book = _at_target(btc=44_800, cash=7_200, price=130.0)
    [deposit] = strategy.signals(_snap(AGGRESSIVE, prices=prices, tick=6), sentiment(), book)
    assert (deposit.asset, deposit.side, deposit.protocol) == ("USDC", Side.BUY, "aave-v3")
    assert deposit.notional_usd == pytest.approx(7_200)


def test_a_base_layer_over_target_is_withdrawn():
    book = portfolio(cash=20_000, held={"AUSDC": (80_000, 1.0)})  # 80% lent; hedge: 0 tactical
    [withdraw] = _strategy().signals(_snap(HEDGE), sentiment(), book)
    assert (withdraw.side, withdraw.protocol, withdraw.notional_usd) == (Side.SELL, "aave-v3",
                                                                         20_000)
    config = StrategiesConfig.model_validate({"enabled": ["treasury_regime"],
                                              "treasury_regime": {"confirm_bars": 1}})
    [proposal] = StrategyAgent(config, run_id="r").propose(_snap(HEDGE), sentiment(), book)
    assert proposal.action == Withdraw(asset="USDC", protocol="aave-v3", receipt="AUSDC")


def test_the_schedule_rebalances_a_small_drift():
    book = _at_target(btc=41_500, base=58_500)  # 1.5% off each way
    strategy = _following(AGGRESSIVE, rebalance_every_bars=24)
    assert strategy.signals(_snap(AGGRESSIVE, tick=25), sentiment(), book) == []
    [sell] = strategy.signals(_snap(AGGRESSIVE, tick=48), sentiment(), book)
    assert sell.notional_usd == pytest.approx(1_500)
    assert "scheduled every 24 bars" in sell.rationale


def test_a_phase_change_rebalances_even_below_the_drift_threshold():
    # conservative keeps 90% invested: 36,000, a 4% move that drift alone would leave
    strategy = TreasuryRegime(TreasuryRegimeConfig(confirm_bars=2, conservative_exposure=0.9))
    book = _at_target()
    assert strategy.signals(_snap(AGGRESSIVE, tick=5), sentiment(), book) == []
    assert strategy.signals(_snap(AGGRESSIVE, tick=6), sentiment(), book) == []
    assert strategy.mode is Mode.AGGRESSIVE
    assert strategy.signals(_snap(CONSERVATIVE, tick=7), sentiment(), book) == []  # seen once
    [sell] = strategy.signals(_snap(CONSERVATIVE, tick=8), sentiment(), book)  # confirmed
    assert strategy.mode is Mode.CONSERVATIVE
    assert sell.notional_usd == pytest.approx(4_000)
    assert "phase change aggressive → conservative" in sell.rationale
    assert "drift" not in sell.rationale


def test_a_flickering_phase_does_not_churn():
    strategy = TreasuryRegime(TreasuryRegimeConfig(confirm_bars=2))
    book = _at_target()
    for tick in range(1, 3):
        strategy.signals(_snap(AGGRESSIVE, tick=tick), sentiment(), book)
    for tick in range(3, 13):
        values = HEDGE if tick % 2 else AGGRESSIVE
        assert strategy.signals(_snap(values, tick=tick), sentiment(), book) == []
    assert strategy.mode is Mode.AGGRESSIVE


def test_the_follower_switches_only_after_confirm_bars_in_a_row():
    follower = ModeFollower(3)
    hedge, bull = Phase(Mode.HEDGE, ""), Phase(Mode.AGGRESSIVE, "")
    assert [follower.observe(p) for p in (hedge, hedge, bull, hedge, hedge, hedge)] == [
        False, False, False, False, False, True]
    assert follower.mode is Mode.HEDGE
    assert follower.observe(None) is False
    assert follower.mode is Mode.HEDGE


def test_a_cash_base_layer_never_proposes_deposits():
    signals = _strategy(base_layer="cash").signals(_snap(AGGRESSIVE), sentiment(),
                                                    portfolio(cash=100_000))
    assert [(s.asset, s.side, s.protocol, s.notional_usd) for s in signals] == [
        ("BTC", Side.BUY, None, pytest.approx(40_000))]


def test_tactical_assets_split_the_layer_and_the_first_leads():
    prices = {"BTC": 100.0, "ETH": 10.0, "SOL": 1.0}
    now = {"BTC": AGGRESSIVE, "ETH": HEDGE, "SOL": HEDGE}
    snap = snapshot(prices=prices, now=now, tick=OFF_SCHEDULE)
    strategy = _strategy(tactical_assets=("BTC", "ETH"), base_layer="cash")
    signals = strategy.signals(snap, sentiment(), portfolio(cash=100_000, prices=prices))
    assert [(s.asset, round(s.notional_usd)) for s in signals] == [("BTC", 20_000),
                                                                   ("ETH", 20_000)]
    assert "aggressive mode" in signals[0].rationale


def test_decisions_never_depend_on_later_bars(compute):
    params = {"valuation_period": 96, "trend_fast": 12, "trend_slow": 48,
              "volatility_period": 12, "rebalance_every_bars": 100, "min_trade_usd": 0.01}
    before = assert_no_look_ahead("treasury_regime", params, compute=compute,
                                  mood=lambda tick: 20.0 if tick % 200 < 50 else 55.0)
    assert any(d[1]["kind"] == "deposit" for d in before)
    assert sum(d[1]["kind"] == "swap" for d in before) >= 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"base_share": 1}, "base_share"),
        ({"base_layer": "vault"}, "base_layer"),
        ({"lending_protocol": ""}, "lending_protocol"),
        ({"lending_asset": "usdc"}, "lending_asset"),
        ({"tactical_assets": ["BTC", "eth"]}, "tactical_assets"),
        ({"tactical_assets": ["BTC", "BTC"]}, "tactical_assets"),
        ({"hedge_exposure": 1.5}, "hedge_exposure"),
        ({"undervalued_z": 1, "overvalued_z": 0.5}, "overvalued_z"),
        ({"trend_fast": 50, "trend_slow": 20}, "trend_slow"),
        ({"fear_below": 60, "greed_above": 40}, "greed_above"),
        ({"stress_volatility_ratio": 1}, "stress_volatility_ratio"),
        ({"drift_threshold": 0}, "drift_threshold"),
        ({"rebalance_every_bars": 0}, "rebalance_every_bars"),
        ({"confirm_bars": 0}, "confirm_bars"),
        ({"base_shares": 0.5}, "base_shares"),
    ],
)
def test_a_bad_parameter_is_refused_at_load_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        StrategiesConfig.model_validate({"enabled": ["treasury_regime"],
                                         "treasury_regime": params})
    assert f"strategies.treasury_regime.{field}:" in describe(
        info.value, source="quorum.toml", prefix="strategies")


def test_crossed_valuation_thresholds_name_both():
    with pytest.raises(ValidationError, match=r"overvalued_z \(0.5\) must be above "
                                              r"undervalued_z \(1\)"):
        TreasuryRegimeConfig(undervalued_z=1, overvalued_z=0.5)

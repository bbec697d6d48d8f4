"""Every strategy plugin through the whole pipeline (risk, policy, reviewer, executor, log) on the
local runtime and synthetic data, and once through the real `quorum backtest` command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from core.backtest_report import summary_payload
from core.config import Settings
from core.feeds.synthetic import generate
from core.metrics import win_rate_pct
from core.models import Stage
from core.session import Session
from state.db import make_engine
from state.decision_log import DecisionLog, verify

BARS = 400
SHORT_WARM_UP = {
    "vol_target": {"fast": 10, "slow": 40},
    "treasury_regime": {"base_layer": "cash", "valuation_period": 100, "trend_slow": 60,
                        "rebalance_every_bars": 48},
}


def _session(strategy: str, params: dict, db_url: str, **execution) -> Session:
    settings = Settings.model_validate({
        "run": {"seed": 7, "cash_usd": 100_000},
        "data": {"assets": ["BTC", "ETH"], "bars": BARS},
        "strategies": {"enabled": [strategy], strategy: params},
        "execution": execution,
    })
    data = generate(assets=settings.data.assets, bars=BARS, bar_seconds=settings.data.bar_seconds,
                    start=settings.data.start, seed=settings.run.seed)
    return Session(settings, data=data, db_url=db_url, runtime="local", gate="approve")


@pytest.mark.parametrize("strategy", ["momentum", "mean_reversion", "dca", "grid", "vol_target",
                                      "treasury_regime"])
def test_each_strategy_runs_a_backtest_and_its_orders_fill(strategy, db_url):
    session = _session(strategy, SHORT_WARM_UP.get(strategy, {}), db_url)
    session.governor.run(range(BARS))
    summary = session.finish()
    stages = Counter(summary.stages)
    assert summary.ticks == BARS
    assert stages[Stage.PROPOSAL_CREATED] >= 1
    assert stages[Stage.ORDER_FILLED] >= 1
    assert verify(make_engine(db_url)).ok


def test_vol_target_by_default_stays_within_the_shipped_policys_volatile_share(db_url, tmp_path):
    """Sized to all the equity, vol_target asked every bar for what max_volatile_share (40%)
    denies; its default max_exposure keeps it within that."""
    denied = {}
    for exposure, url in ((None, db_url), (1.0, f"sqlite:///{tmp_path / 'all.db'}")):
        params = {**SHORT_WARM_UP["vol_target"],
                  **({} if exposure is None else {"max_exposure": exposure})}
        session = _session("vol_target", params, url)
        session.run(BARS)
        summary = session.finish()
        assert Counter(summary.stages)[Stage.ORDER_FILLED] >= 1
        denied[exposure] = summary.denied_by_rule.get("max_volatile_share", 0)
    assert denied[1.0] > 50, "the test needs the uncapped run to hit the rule to mean anything"
    assert denied[None] == 0


def test_paper_mode_lends_the_base_layer_as_receipts_never_as_a_trade(db_url):
    """The base layer's deposit fills as AUSDC at its accrued price (no fee, no slippage) and
    earns the paper lending rate; USDC itself is never bought or sold."""
    params = {**SHORT_WARM_UP["treasury_regime"], "base_layer": "lending"}
    session = _session("treasury_regime", params, db_url)
    session.run(BARS)
    summary = session.finish()
    fills = [entry.payload for entry in DecisionLog(make_engine(db_url)).entries()
             if entry.stage == Stage.ORDER_FILLED]
    deposits = [f for f in fills if f["asset"] == "AUSDC"]
    assert deposits and deposits[0]["side"] == "buy"
    assert deposits[0]["fee_usd"] == 0 and deposits[0]["slippage_bps"] == 0
    assert deposits[0]["price"] >= 1.0  # 1 at the run's start, growing at the rate
    assert all(f["asset"] != "USDC" for f in fills)
    assert summary.positions["AUSDC"] > 0
    assert summary.denied_by_rule.get("executable", 0) == 0
    assert verify(make_engine(db_url)).ok


def test_without_a_lending_rate_deposits_are_denied_never_traded(db_url):
    """No rate for the receipt asset: the governor denies the deposit (built-in rule
    ``executable``) and never turns it into a trade; the tactical layer still runs."""
    params = {**SHORT_WARM_UP["treasury_regime"], "base_layer": "lending"}
    session = _session("treasury_regime", params, db_url, lending_rates={})
    session.run(BARS)
    session.finish()
    denied, orders = [], []
    for entry in DecisionLog(make_engine(db_url)).entries():
        if entry.stage == Stage.POLICY_DENIED:
            denied.append(entry.payload)
        elif entry.stage == Stage.ORDER_SUBMITTED:
            orders.append(entry.payload)
    deposits = [d for d in denied if d["fired"][0]["rule"] == "executable"]
    assert deposits, "the base layer should have asked to deposit"
    assert "paper lending has no rate for it" in deposits[0]["fired"][0]["reason"]
    assert orders and all(order["asset"] not in ("USDC", "AUSDC") for order in orders)


def test_quorum_backtest_runs_a_new_strategy_with_params_from_the_command_line(tmp_path, db_url):
    out = tmp_path / "out.json"
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "backtest", "--strategy", "treasury_regime",
         "--param", "base_layer=cash", "--param", "valuation_period=100", "--param",
         "trend_slow=60", "--bars", "300", "--json", str(out), "--db", db_url],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["bars"] == 300
    assert report["trades"], "the tactical layer should have bought and been marked at the end"


def test_quorum_backtest_names_a_bad_strategy_parameter(db_url):
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "backtest", "--strategy", "grid", "--param",
         "levels=1", "--bars", "50", "--db", db_url],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "strategies.grid.levels" in result.stderr
    assert "Traceback" not in result.stderr


def test_lending_round_trips_are_listed_apart_from_trading_and_are_not_exposure(db_url):
    """Receipts held by the base layer are trades of side ``lend``: listed, but out of the
    trade count, win rate and profit factor; bars holding only receipts are not exposure."""
    params = {**SHORT_WARM_UP["treasury_regime"], "base_layer": "lending"}
    session = _session("treasury_regime", params, db_url)
    held = []  # per bar: the assets held at its close

    def on_tick(tick, portfolio):
        held.append({a for a, p in portfolio.positions.items() if p.quantity > 0})

    session.run(BARS, on_tick=on_tick, event_driven=False)
    holding = list(session.governor.state.holding)
    summary = session.finish()
    lending = [t for t in summary.trades if t.asset == "AUSDC"]
    assert lending and all(t.side == "lend" for t in lending)
    assert summary.lending_trades == lending
    assert summary.market_trades == [t for t in summary.trades if t.asset != "AUSDC"]
    market_pnls = [t.pnl for t in summary.market_trades]
    assert summary.win_rate_pct == win_rate_pct(market_pnls)
    assert summary_payload(summary)["number_of_trades"] == len(summary.market_trades)
    assert summary_payload(summary)["lending_round_trips"] == len(lending)
    # exposure counts the bars holding a market position, not those holding only receipts
    assert holding == [bool(assets - {"AUSDC"}) for assets in held]
    assert any(assets == {"AUSDC"} for assets in held)  # such bars exist in this run
    assert summary.exposure_pct == 100.0 * sum(holding) / BARS

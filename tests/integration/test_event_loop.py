"""The event-driven backtest loop gives the same run as the plain bar-by-bar loop.

Each case runs one backtest twice on the same data, once waking the pipeline only where
something can act (core/event_loop.py) and once on every bar, and compares everything a run
leaves: the equity curve bar by bar, the exposure, the trades, the summary, and every decision
log entry (per-run identifiers and wall-clock times removed). Cases: the real ETH/BTC candles
with the parity config (all-in SMA cross), and a synthetic three-asset market whose SMA cross
also has a stop-loss and a time exit (positions held: every bar wakes) under a policy that
denies and resizes; DCA, whose schedule alone wakes bars (none narrowed with a take-profit);
mean reversion, whose z-score zones wake bars; momentum, whose trailing-return zones do.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.config import Settings
from core.feeds.files import load_files
from core.session import Session
from tests.integration.support import market, scrub, settings, write_policy

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PARITY = Path(__file__).with_name("parity") / "parity.toml"


def run(s: Settings, data, db: Path, *, event_driven: bool):
    session = Session(s, data=data, db_url=f"sqlite:///{db}", runtime="local", gate="approve")
    session.run(data.n_bars, event_driven=event_driven)
    woken = session.woken
    equity = list(session.governor.state.equity)
    holding = list(session.governor.state.holding)
    summary = session.finish()
    return summary, woken, equity, holding, log_entries(db, summary.run_id)


def log_entries(db: Path, run_id: str) -> list:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT stage, payload_json FROM decision_log ORDER BY \"index\"")
        text = [(stage, payload.replace(run_id, "RUN")) for stage, payload in rows]
    return [(stage, scrub(json.loads(payload))) for stage, payload in text]


def assert_same_run(s: Settings, data, tmp_path: Path):
    fast = run(s, data, tmp_path / "event.db", event_driven=True)
    plain = run(s, data, tmp_path / "plain.db", event_driven=False)
    (summary, woken, equity, holding, entries) = fast
    (p_summary, p_woken, p_equity, p_holding, p_entries) = plain
    assert p_woken == data.n_bars
    assert equity == p_equity  # exactly: the same floats on every bar
    assert holding == p_holding
    assert summary.trades == p_summary.trades
    for field in ("ticks", "decisions", "stages", "equity_usd", "realized_pnl_usd", "fees_usd",
                  "positions", "max_drawdown_pct", "sharpe", "sortino", "exposure_pct",
                  "denied_by_rule", "closed_trades"):
        assert getattr(summary, field) == getattr(p_summary, field), field
    assert len(entries) == len(p_entries)
    for ours, theirs in zip(entries, p_entries, strict=True):
        assert ours == theirs
    return woken, data.n_bars, summary


def test_the_real_candles_give_the_same_run_waking_on_a_tenth_of_the_bars(tmp_path):
    s = Settings.load(PARITY)
    s = s.model_copy(update={"run": s.run.model_copy(update={"cash_usd": 100.0})})
    data = load_files((DATA / "ETH_BTC-5m.csv",))
    woken, bars, _ = assert_same_run(s, data, tmp_path)
    assert woken < bars / 5  # 522 of 5,760 here: the loop really skips


HISTORY_RULES = """
[rules.max_drawdown]
max_drawdown_share = 0.02
[rules.daily_loss_limit]
max_loss_share = 0.01
[rules.stoploss_guard]
trade_limit = 2
lookback_s = 21600
lock_s = 7200
[rules.loss_cooldown]
cooldown_s = 7200
per_asset = true
"""


@pytest.mark.parametrize("seed", [3, 11])
def test_exits_denials_and_resizes_give_the_same_run(tmp_path, seed):
    policy = write_policy(tmp_path, auto_max=5_000)
    policy.write_text(policy.read_text() + HISTORY_RULES)  # rules that read the bars' history
    s = settings(policy=policy, seed=seed)
    s = s.model_copy(update={"strategies": s.strategies.model_validate(
        {"enabled": ["sma_cross"],
         "sma_cross": {"fast": 5, "slow": 20,
                       "exits": {"stop_loss": 0.01, "max_hold_bars": 12}}})})
    data = market(s, bars=600)
    woken, bars, summary = assert_same_run(s, data, tmp_path)
    assert woken < bars  # flat stretches still coast
    assert summary.denied_by_rule  # the history rules (drawdown, losses) did deny entries


def test_several_positions_held_through_quiet_bars_give_the_same_run(tmp_path):
    """No exits: positions are held while bars coast, and with max_position_share 0.3 three
    are held at once, so a coasted run marks several positions in one pass (their values summed
    in the order PortfolioState.equity_usd sums them: with three, the order shows)."""
    policy = write_policy(tmp_path, auto_max=100_000)
    policy.write_text(policy.read_text().replace('assets = ["BTC", "ETH"]',
                                                 'assets = ["BTC", "ETH", "SOL"]')
                      .replace("max_share = 0.5", "max_share = 0.3"))
    s = settings(policy=policy, assets=("BTC", "ETH", "SOL"), seed=5)
    data = market(s, bars=800)
    held_three = []

    def on_tick(tick, portfolio):
        held_three.append(sum(p.quantity > 0 for p in portfolio.positions.values()) >= 3)

    session = Session(s, data=data, db_url=f"sqlite:///{tmp_path / 'probe.db'}",
                      runtime="local", gate="approve")
    session.run(data.n_bars, event_driven=False, on_tick=on_tick)
    session.finish()
    assert sum(held_three) > 50  # three positions at once on many bars
    woken, bars, _ = assert_same_run(s, data, tmp_path)
    assert woken < bars / 2


@pytest.mark.parametrize("take_profit", [None, 0.01])
def test_a_schedule_wakes_only_its_bars_and_gives_the_same_run(tmp_path, take_profit):
    """DCA buys every interval_bars bars: only those bars (and the fills after them) wake,
    unless a take-profit watches every close."""
    s = settings(policy=write_policy(tmp_path, auto_max=100_000), seed=3)
    s = s.model_copy(update={"strategies": s.strategies.model_validate(
        {"enabled": ["dca"], "dca": {"amount_usd": 2_000, "interval_bars": 24,
                                     "take_profit": take_profit}})})
    data = market(s, bars=480)
    woken, bars, summary = assert_same_run(s, data, tmp_path)
    assert summary.stages["OrderFilled"] >= 10
    if take_profit is None:
        assert woken <= 2 * bars // 24 + 2  # the scheduled bars and their fill bars
    else:
        assert woken == bars


def test_mean_reversion_wakes_only_in_its_zones_and_gives_the_same_run(tmp_path):
    """Buy zone (z at or under -entry_z), sell zone (z at or over exit_z) and the stop: the
    bars in between coast."""
    s = settings(policy=write_policy(tmp_path, auto_max=100_000), seed=3)
    s = s.model_copy(update={"strategies": s.strategies.model_validate(
        {"enabled": ["mean_reversion"],
         "mean_reversion": {"period": 20, "entry_z": 1.5, "exit_z": 0.5, "stop_z": 3.0}})})
    data = market(s, bars=600)
    woken, bars, summary = assert_same_run(s, data, tmp_path)
    assert summary.stages["OrderFilled"] >= 6
    assert woken < 0.8 * bars


def test_momentum_wakes_only_in_its_return_zones_and_gives_the_same_run(tmp_path):
    """The trailing return over lookback bars (from the SMA and the close) above entry_return
    or below exit_return wakes a bar; a return in between coasts."""
    s = settings(policy=write_policy(tmp_path, auto_max=100_000), seed=3)
    s = s.model_copy(update={"strategies": s.strategies.model_validate(
        {"enabled": ["momentum"],
         "momentum": {"lookback": 24, "entry_return": 0.06, "exit_return": -0.04}})})
    data = market(s, bars=600)
    woken, bars, summary = assert_same_run(s, data, tmp_path)
    assert summary.stages["OrderFilled"] >= 10 and summary.decisions["denied"] > 0
    assert woken < 0.7 * bars  # 358 of 600 when written

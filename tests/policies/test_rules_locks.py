"""The rules that lock new entries (losses, drawdown, stop-outs, cooldown, trade rate, kill
switch) and the stale-data guard. Exits that shed risk must always pass the entry locks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import RuleFiring
from tests.policies.support import T0, context, engine_with, fired, sent, state, trade

DAILY = "[rules.daily_loss_limit]\nmax_loss_usd = 3000\nmax_loss_share = 0.05\n"
DRAWDOWN = "[rules.max_drawdown]\nmax_drawdown_share = 0.25\n"
GUARD = "[rules.stoploss_guard]\ntrade_limit = 3\nlookback_s = 3600\nlock_s = 1800\n"
COOLDOWN = "[rules.loss_cooldown]\ncooldown_s = 3600\n"
RATE = "[rules.max_trades_per_hour]\nmax_trades = 3\n"
KILL = "[rules.kill_switch]\n"
STALE = "[rules.stale_data]\nmax_age_s = 600\nmax_ahead_s = 60\n"
ENTRY_LOCKS = DAILY + DRAWDOWN + GUARD + COOLDOWN + RATE + KILL

EVERYTHING_LOCKED = state(
    peak=2_000_000.0,                                        # equity 1M: a 50% drawdown
    trades=[trade(m, -2_000.0) for m in (50, 40, 30, 20)],   # 8k lost today, 4 stop-outs
    orders=[sent(m) for m in (5, 10, 15)],                   # 3 trades this hour
    kill_switch=True,
)


def test_an_exit_passes_every_entry_lock_even_when_all_are_engaged(tmp_path):
    engine = engine_with(tmp_path, ENTRY_LOCKS)
    exit_ = engine.evaluate(context(notional=5_000, sell=True, holdings={"BTC": 100},
                                    history=EVERYTHING_LOCKED))
    assert exit_.allowed and fired(exit_) == [("tiers", "tier")]
    entry = engine.evaluate(context(notional=5_000, history=EVERYTHING_LOCKED))
    assert [r for r, effect in fired(entry) if effect == "deny"] == [
        "daily_loss_limit", "max_drawdown", "stoploss_guard", "loss_cooldown",
        "max_trades_per_hour", "kill_switch",
    ]


def test_the_daily_loss_limit_is_the_smaller_of_its_two_limits(tmp_path):
    engine = engine_with(tmp_path, DAILY)
    # day started at 1M: 5% is 50k, so the 3,000 absolute limit binds
    under = state(trades=[trade(60, -2_999.0)])
    assert engine.evaluate(context(notional=1_000, history=under)).allowed
    at = state(trades=[trade(60, -2_000.0), trade(30, -1_500.0), trade(10, +500.0)])
    verdict = engine.evaluate(context(notional=1_000, history=at))
    assert verdict.fired[0] == RuleFiring(
        rule="daily_loss_limit", effect="deny",
        reason="realised loss today 3,000.00 >= daily limit 3,000.00: no new entries until midnight UTC",
    )
    share_only = engine_with(tmp_path, "[rules.daily_loss_limit]\nmax_loss_share = 0.01\n")
    small_day = state(day_start=100_000.0, trades=[trade(60, -1_000.0)])
    assert not share_only.evaluate(context(notional=1_000, cash=99_000, history=small_day)).allowed


def test_losses_before_midnight_utc_do_not_count_today(tmp_path):
    engine = engine_with(tmp_path, DAILY)
    # now is 12:00 UTC: a loss 13 hours ago was yesterday
    yesterday = state(trades=[trade(13 * 60, -10_000.0)])
    assert engine.evaluate(context(notional=1_000, history=yesterday)).allowed


def test_a_drawdown_at_the_limit_halts_entries(tmp_path):
    engine = engine_with(tmp_path, DRAWDOWN)
    at_limit = engine.evaluate(context(notional=1_000, cash=75_000, history=state(peak=100_000)))
    assert at_limit.fired[0] == RuleFiring(
        rule="max_drawdown", effect="deny",
        reason="drawdown 25.0% from peak 100,000.00 >= 25%: entries halted",
    )
    assert engine.evaluate(context(notional=1_000, cash=75_001, history=state(peak=100_000))).allowed
    # a peak below current equity is current equity: no drawdown
    assert engine.evaluate(context(notional=1_000, cash=75_000, history=state(peak=10))).allowed


def test_enough_stop_outs_within_the_window_lock_entries_until_lock_s_after_the_last(tmp_path):
    engine = engine_with(tmp_path, GUARD)
    three = state(trades=[trade(m, -100.0) for m in (50, 30, 20)])
    verdict = engine.evaluate(context(notional=1_000, history=three))
    until = (T0 - timedelta(minutes=20) + timedelta(minutes=30)).isoformat()
    assert verdict.fired[0] == RuleFiring(
        rule="stoploss_guard", effect="deny",
        reason=f"3 stop-outs within 1h: new entries locked until {until}",
    )
    # the lock ends lock_s after the third stop-out
    later = three.model_copy(update={"now": T0 + timedelta(minutes=10)})
    assert engine.evaluate(context(notional=1_000, history=later)).allowed


def test_stop_outs_spread_wider_than_the_window_or_wins_do_not_lock(tmp_path):
    engine = engine_with(tmp_path, GUARD)
    spread = state(trades=[trade(m, -100.0) for m in (95, 50, 20)])  # no 3 within an hour
    assert engine.evaluate(context(notional=1_000, history=spread)).allowed
    with_a_win = state(trades=[trade(50, -100.0), trade(30, +100.0), trade(20, -100.0)])
    assert engine.evaluate(context(notional=1_000, history=with_a_win)).allowed


def test_small_losses_are_not_stop_outs_when_min_loss_share_is_set(tmp_path):
    engine = engine_with(tmp_path, GUARD + "min_loss_share = 0.02\n")
    scratches = state(trades=[trade(m, -100.0, cost=10_000.0) for m in (50, 30, 20)])  # -1% each
    assert engine.evaluate(context(notional=1_000, history=scratches)).allowed
    stops = state(trades=[trade(m, -300.0, cost=10_000.0) for m in (50, 30, 20)])  # -3% each
    assert not engine.evaluate(context(notional=1_000, history=stops)).allowed


def test_a_per_asset_stoploss_guard_locks_only_the_asset_that_stopped_out(tmp_path):
    engine = engine_with(tmp_path, GUARD + "per_asset = true\n")
    eth_stops = state(trades=[trade(m, -100.0, asset="ETH") for m in (50, 30, 20)])
    assert engine.evaluate(context(notional=1_000, asset="BTC", history=eth_stops)).allowed
    eth = engine.evaluate(context(notional=1_000, asset="ETH", history=eth_stops))
    assert eth.fired[0].reason.startswith("3 ETH stop-outs within 1h")


def test_a_loss_cools_down_that_asset_only_for_cooldown_s(tmp_path):
    engine = engine_with(tmp_path, COOLDOWN)
    lost = state(trades=[trade(30, -250.0, asset="ETH")])
    verdict = engine.evaluate(context(notional=1_000, asset="ETH", history=lost))
    closed = T0 - timedelta(minutes=30)
    assert verdict.fired[0] == RuleFiring(
        rule="loss_cooldown", effect="deny",
        reason=f"ETH lost 250.00 at {closed.isoformat()}: cooling down 1h, "
               f"until {(closed + timedelta(hours=1)).isoformat()}",
    )
    assert engine.evaluate(context(notional=1_000, asset="BTC", history=lost)).allowed
    after = lost.model_copy(update={"now": T0 + timedelta(minutes=30)})
    assert engine.evaluate(context(notional=1_000, asset="ETH", history=after)).allowed
    won = state(trades=[trade(30, +250.0, asset="ETH")])
    assert engine.evaluate(context(notional=1_000, asset="ETH", history=won)).allowed


def test_a_treasury_wide_cooldown_locks_every_asset(tmp_path):
    engine = engine_with(tmp_path, COOLDOWN + "per_asset = false\n")
    lost = state(trades=[trade(30, -250.0, asset="ETH")])
    assert not engine.evaluate(context(notional=1_000, asset="BTC", history=lost)).allowed


def test_trades_sent_and_awaiting_approval_count_toward_the_hourly_limit(tmp_path):
    engine = engine_with(tmp_path, RATE)
    two = state(orders=[sent(10), sent(70)])  # one within the hour, one before it
    assert engine.evaluate(context(notional=1_000, history=two)).allowed
    pending = state(orders=[sent(10), sent(20)], awaiting=1)
    verdict = engine.evaluate(context(notional=1_000, history=pending))
    assert verdict.fired[0] == RuleFiring(
        rule="max_trades_per_hour", effect="deny",
        reason="2 orders sent in the last hour and 1 awaiting approval (max 3 an hour)",
    )


def test_the_kill_switch_rule_denies_entries_while_engaged(tmp_path):
    engine = engine_with(tmp_path, KILL)
    verdict = engine.evaluate(context(notional=1_000, history=state(kill_switch=True)))
    assert verdict.fired[0] == RuleFiring(rule="kill_switch", effect="deny",
                                          reason="kill switch engaged: only exits are allowed")
    assert engine.evaluate(context(notional=1_000, history=state(kill_switch=False))).allowed


@pytest.mark.parametrize(("age_s", "allowed"), [(0, True), (600, True), (601, False),
                                                 (-60, True), (-61, False)])
def test_a_snapshot_older_than_max_age_or_ahead_of_the_clock_is_denied(tmp_path, age_s, allowed):
    engine = engine_with(tmp_path, STALE)
    ctx = context(notional=1_000, snapshot_ts=T0 - timedelta(seconds=age_s), history=state(now=T0))
    verdict = engine.evaluate(ctx)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.fired[0].rule == "stale_data"


def test_stale_data_denies_exits_too_and_says_how_old(tmp_path):
    engine = engine_with(tmp_path, STALE)
    ctx = context(notional=1_000, sell=True, holdings={"BTC": 100},
                  snapshot_ts=T0 - timedelta(hours=1), history=state(now=T0))
    verdict = engine.evaluate(ctx)
    assert verdict.fired[0] == RuleFiring(
        rule="stale_data", effect="deny",
        reason=f"snapshot of {(T0 - timedelta(hours=1)).isoformat()} is 3,600s old at "
               f"{T0.isoformat()} (max 600s)",
    )

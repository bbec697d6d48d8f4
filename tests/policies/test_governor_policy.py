"""The policy inside a real run: the history the governor keeps for it, the context it logs, and
locks that only a history can trigger (cooldown after a loss, trades awaiting approval)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.treasury import Trade
from core.human_gate import QueueGate
from core.models import Order, Side, Stage
from core.policy_context import PolicyHistory, context_from_log
from policies.replay import replay
from state.approvals import ApprovalQueue
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from tests.policies.support import by_decision, run_system

T = datetime(2024, 3, 1, 22, tzinfo=UTC)


# -- PolicyHistory --------------------------------------------------------------------------------

def test_the_history_tracks_the_peak_and_the_equity_each_utc_day_started_with():
    history = PolicyHistory(retained_s=3600)
    history.observe(now=T, equity_usd=100.0)
    history.observe(now=T + timedelta(hours=1), equity_usd=120.0)
    history.observe(now=T + timedelta(hours=2), equity_usd=90.0)  # midnight passed: a new day
    state = history.state(kill_switch_engaged=True, awaiting_approval=2)
    assert state.equity_peak_usd == 120.0
    assert state.day_start_equity_usd == 90.0
    assert state.history_since == T and state.now == T + timedelta(hours=2)
    assert state.kill_switch_engaged and state.awaiting_approval == 2


def test_the_history_keeps_trades_and_orders_only_as_far_back_as_the_rules_look():
    history = PolicyHistory(retained_s=3600)
    history.observe(now=T, equity_usd=100.0)
    history.record_closed([Trade(asset="BTC", side="long", entry_time=T.isoformat(),
                                 entry_price=100.0, exit_time=T.isoformat(), exit_price=95.0,
                                 size=2.0, pnl=-10.5)])
    history.record_order(Order(order_id="o", decision_id="d", tick=0, created_at=T, asset="ETH",
                               side=Side.BUY, notional_usd=50.0))
    kept = history.state(kill_switch_engaged=False, awaiting_approval=0)
    assert [(t.asset, t.pnl_usd, t.cost_usd, t.closed_at) for t in kept.closed_trades] == [
        ("BTC", -10.5, 200.0, T)]
    assert [(o.asset, o.sent_at) for o in kept.orders] == [("ETH", T)]
    history.observe(now=T + timedelta(seconds=3601), equity_usd=100.0)
    later = history.state(kill_switch_engaged=False, awaiting_approval=0)
    assert later.closed_trades == () and later.orders == ()


def test_the_history_cannot_be_asked_before_the_first_tick():
    with pytest.raises(RuntimeError, match="before the first observe"):
        PolicyHistory(retained_s=60).state(kill_switch_engaged=False, awaiting_approval=0)


# -- a real run -----------------------------------------------------------------------------------

def test_every_verdict_is_logged_with_a_context_that_judges_the_same_again(tmp_path, db_url):
    """What the governor logs is enough: each decision rebuilt from the log gets the verdict it
    got live, reason for reason."""
    rules = "[rules.loss_cooldown]\ncooldown_s = 36000\n[rules.max_trades_per_hour]\nmax_trades = 2\n"
    governor, engine, _ = run_system(tmp_path, db_url, rules=rules)
    for tick in range(300):
        governor.step(tick)
    decisions = [stages for stages in by_decision(engine).values()
                 if {"PolicyAllowed", "PolicyDenied"} & set(stages)]
    assert len(decisions) > 10
    sells = 0
    for stages in decisions:
        logged = stages.get("PolicyAllowed") or stages["PolicyDenied"]
        context = context_from_log(stages)
        assert context.missing == frozenset() and context.state is not None
        proposal = stages["ProposalCreated"]["proposal"]
        held = context.portfolio.quantity(proposal["action"].get("sell") or "")
        if "sell" in proposal["action"]:  # one strategy: its lot is the whole position
            assert context.own_quantity == pytest.approx(held)
            sells += 1
        rejudged = governor.policy.evaluate(context)
        expected = {k: v for k, v in logged.items() if k != "context"}
        assert rejudged.model_dump(mode="json") == expected
    assert sells > 3 and verify(engine).ok


def test_the_policy_clock_is_the_bar_time_in_a_replayed_market(tmp_path, db_url):
    governor, engine, _ = run_system(tmp_path, db_url, bars=120)
    for tick in range(120):
        governor.step(tick)
    contexts = [stages["PolicyAllowed"]["context"] for stages in by_decision(engine).values()
                if "PolicyAllowed" in stages]
    assert contexts
    assert all(c["state"]["now"] == c["snapshot_ts"] for c in contexts)


def test_with_a_wall_clock_the_stale_data_guard_refuses_a_market_from_the_past(tmp_path, db_url):
    wall = datetime(2030, 1, 1, tzinfo=UTC)
    governor, engine, _ = run_system(tmp_path, db_url, bars=150,
                                     rules="[rules.stale_data]\nmax_age_s = 7200\n",
                                     policy_clock=lambda snapshot: wall)
    for tick in range(150):
        governor.step(tick)
    verdicts = [s for s in by_decision(engine).values() if "PolicyDenied" in s or "PolicyAllowed" in s]
    assert verdicts and all("PolicyDenied" in s for s in verdicts)
    reasons = {f["reason"].split(" is ")[1].split(" at ")[0] for s in verdicts
               for f in s["PolicyDenied"]["fired"] if f["rule"] == "stale_data"}
    assert all(r.endswith("s old") for r in reasons)


def test_the_history_holds_the_round_trips_the_treasury_closed(tmp_path, db_url):
    governor, _, runtime = run_system(tmp_path, db_url, bars=300)
    for tick in range(300):
        governor.step(tick)
    closed = runtime.call("treasury", "closed_trades")
    assert closed, "the run should close some trades"
    now = governor.history.now
    recent = [t for t in closed
              if datetime.fromisoformat(t.exit_time) >= now - timedelta(seconds=governor.history.retained_s)]
    assert [(t.asset, t.pnl) for t in governor.history.trades] == [(t.asset, t.pnl) for t in recent]


def test_after_a_loss_the_cooldown_denies_entries_until_it_is_over(tmp_path, db_url):
    rules = "[rules.loss_cooldown]\ncooldown_s = 1000000\nper_asset = false\n"
    governor, engine, runtime = run_system(tmp_path, db_url, rules=rules, bars=400)
    for tick in range(400):
        governor.step(tick)
    losses = [t for t in runtime.call("treasury", "closed_trades") if t.pnl < 0]
    assert losses, "the run should lose on some trade"
    first_loss = datetime.fromisoformat(losses[0].exit_time)
    cooled = first_loss + timedelta(seconds=1_000_000)
    after = [s for s in by_decision(engine).values() if "ProposalCreated" in s
             and first_loss < datetime.fromisoformat(s["ProposalCreated"]["proposal"]["ts"]) < cooled]
    entries = [s for s in after if s["ProposalCreated"]["proposal"]["action"]["sell"] == "USD"]
    assert entries, "the strategy should keep proposing entries after the loss"
    for stages in entries:
        denied = [f["rule"] for f in stages["PolicyDenied"]["fired"] if f["effect"] == "deny"]
        assert "loss_cooldown" in denied
    assert any(datetime.fromisoformat(s["ProposalCreated"]["proposal"]["ts"]) >= cooled
               and "PolicyAllowed" in s for s in by_decision(engine).values()
               if "ProposalCreated" in s), "entries resume once the cooldown is over"


def test_a_request_awaiting_approval_counts_against_the_hourly_trade_limit(tmp_path, db_url):
    """Nobody approves: the first entry waits, and while it waits a second one would break
    max_trades together with it, so the policy denies the second."""
    gate = QueueGate(ApprovalQueue(make_engine(db_url)))
    governor, engine, _ = run_system(tmp_path, db_url, auto_max=1_000, gate=gate, bars=300,
                                     rules="[rules.max_trades_per_hour]\nmax_trades = 1\n")
    for tick in range(300):
        governor.step(tick)
        if governor.state.awaiting and governor.state.stages[Stage.POLICY_DENIED.value]:
            break
    assert governor.state.awaiting, "an entry should be waiting for a person"
    denied = [s["PolicyDenied"] for s in by_decision(engine).values() if "PolicyDenied" in s]
    assert denied
    assert denied[0]["fired"][0] == {
        "rule": "max_trades_per_hour", "effect": "deny",
        "reason": "0 orders sent in the last hour and 1 awaiting approval (max 1 an hour)",
    }
    assert denied[0]["context"]["state"]["awaiting_approval"] == 1


def test_the_kill_switch_rule_denies_entries_by_name_and_lets_exits_through(tmp_path, db_url):
    governor, engine, _ = run_system(tmp_path, db_url, rules="[rules.kill_switch]\n")
    tick = 0
    while not (governor.state.portfolio and governor.state.portfolio.positions):
        governor.step(tick)
        tick += 1
    governor.engage_kill_switch(by="test:alice", reason="drill")
    seen_before = set(by_decision(engine))
    for t in range(tick, 300):
        governor.step(t)
    after = [s for d, s in by_decision(engine).items() if d not in seen_before and "ProposalCreated" in s]
    entries = [s for s in after if s["ProposalCreated"]["proposal"]["action"]["sell"] == "USD"]
    exits = [s for s in after if s["ProposalCreated"]["proposal"]["action"]["buy"] == "USD"]
    assert entries and exits
    for stages in entries:
        verdict = stages["PolicyDenied"]
        assert [f for f in verdict["fired"] if f["rule"] == "kill_switch"] == [
            {"rule": "kill_switch", "effect": "deny",
             "reason": "kill switch engaged: only exits are allowed"}]
        assert verdict["context"]["state"]["kill_switch_engaged"] is True
    assert all("PolicyAllowed" in s and "OrderFilled" in s for s in exits)


def test_replay_applies_the_governors_own_kill_switch_as_the_run_did(tmp_path, db_url):
    """A policy without the kill_switch rule: the governor's backstop denied the entries, and a
    replay under the same policy must not report them as flips."""
    governor, engine, _ = run_system(tmp_path, db_url)
    for tick in range(100):
        governor.step(tick)
    governor.engage_kill_switch(by="test:alice", reason="drill")
    for tick in range(100, 300):
        governor.step(tick)
    results = replay(DecisionLog(engine).entries(), governor.policy)
    stopped = [r for r in results if r.verdict.fired[-1].rule == "kill_switch"]
    assert stopped and all(not r.verdict.allowed for r in stopped)
    assert not [r.decision_id for r in results if r.flipped or r.tier_changed]

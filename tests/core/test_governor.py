"""The governor's human gate on the real persisted queue, with a clock the test controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.governor import Governor
from core.human_gate import QueueGate
from core.models import Stage
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.approvals import ApprovalQueue
from state.approvers import ApprovalsConfig, Approver, Channel
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from state.orders import OrderStore
from tests.integration.support import market, settings, write_policy


ALICE = Approver(Channel.CLI, "alice")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def system(tmp_path, db_url):
    policy_path = write_policy(tmp_path, auto_max=1_000)  # every 10k entry needs a person
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    clock = Clock()
    queue = ApprovalQueue(engine, approvers=ApprovalsConfig(cli=("alice",)), clock=clock)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=200), db_url=db_url, run_id="t"))
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine), human_gate=QueueGate(queue),
                        run_id="t", clock=clock)
    return governor, queue, clock, engine


def run_until_a_request(governor: Governor, queue: ApprovalQueue) -> int:
    for tick in range(200):
        governor.step(tick)
        if queue.list():
            return tick
    pytest.fail("no proposal reached the human gate in 200 ticks")


def test_an_expired_request_is_rejected_and_never_executes(system):
    governor, queue, clock, engine = system
    tick = run_until_a_request(governor, queue)
    request = queue.list()[0]
    clock.now += timedelta(seconds=901)  # the policy's approval_expiry_s is 900
    governor.step(tick + 1)
    governor.step(tick + 2)
    assert queue.get(request.request_id).status.value == "expired"
    stages = [e.stage for e in DecisionLog(engine).entries(request.decision_id)]
    assert stages[-1] == Stage.APPROVAL_EXPIRED.value
    assert Stage.ORDER_SUBMITTED.value not in stages
    assert OrderStore(engine).by_decision(request.decision_id) is None
    assert governor.state.outcomes[request.decision_id] == "expired"
    assert verify(engine).ok


def test_an_approved_request_executes_exactly_the_approved_order(system):
    governor, queue, clock, engine = system
    tick = run_until_a_request(governor, queue)
    request = queue.list()[0]
    queue.approve(request.request_id, approver=ALICE)
    governor.step(tick + 1)  # the gate sees the approval and submits
    governor.step(tick + 2)  # the order fills at this bar's open
    stored = OrderStore(engine).by_decision(request.decision_id)
    assert stored is not None
    order, status, fill = stored
    assert order == request.order and status == "filled" and fill is not None
    stages = [e.stage for e in DecisionLog(engine).entries(request.decision_id)]
    assert stages[-4:] == [Stage.APPROVAL_GRANTED.value, Stage.ORDER_SUBMITTED.value,
                           Stage.ORDER_FILLED.value, Stage.PORTFOLIO_UPDATED.value]


def test_requests_nobody_decided_are_rejected_when_the_run_ends(system):
    governor, queue, clock, engine = system
    run_until_a_request(governor, queue)
    request = queue.list()[0]
    governor.end_run()
    assert queue.get(request.request_id).status.value == "rejected"
    assert DecisionLog(engine).entries(request.decision_id)[-1].stage == Stage.APPROVAL_REJECTED.value


def test_the_kill_switch_refuses_an_entry_approved_before_it_was_engaged(system):
    governor, queue, clock, engine = system
    tick = run_until_a_request(governor, queue)
    request = queue.list()[0]
    assert request.order.side.value == "buy"
    queue.approve(request.request_id, approver=ALICE)
    governor.engage_kill_switch(by="test:bob", reason="drill")
    governor.step(tick + 1)
    governor.step(tick + 2)
    entries = DecisionLog(engine).entries(request.decision_id)
    assert [e.stage for e in entries[-2:]] == [Stage.APPROVAL_GRANTED.value, Stage.ORDER_FAILED.value]
    assert "kill switch" in entries[-1].payload["error"]
    assert OrderStore(engine).by_decision(request.decision_id) is None


def auto_system(tmp_path, db_url, *, strategies=None):
    policy_path = write_policy(tmp_path, auto_max=100_000)  # no people: auto all the way
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    if strategies is not None:
        s = s.model_copy(update={"strategies": strategies})
    engine = make_engine(db_url)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=300), db_url=db_url, run_id="k"))
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine),
                        human_gate=QueueGate(ApprovalQueue(engine)), run_id="k")
    return governor, engine


def test_the_kill_switch_denies_entries_but_lets_exits_through(tmp_path, db_url):
    governor, engine = auto_system(tmp_path, db_url)
    tick = 0
    while not (governor.state.portfolio and governor.state.portfolio.positions):
        governor.step(tick)
        tick += 1
    held = set(governor.state.portfolio.positions)
    governor.engage_kill_switch(by="test:alice", reason="drill")
    engaged_at = len(DecisionLog(engine).entries())
    for t in range(tick, 300):
        governor.step(t)
    after = DecisionLog(engine).entries()[engaged_at:]
    created = {e.decision_id: e.payload["proposal"] for e in after
               if e.stage == Stage.PROPOSAL_CREATED.value}
    denied = {e.decision_id for e in after if e.stage == Stage.POLICY_DENIED.value}
    filled = {e.decision_id for e in after if e.stage == Stage.ORDER_FILLED.value}
    entries = {d for d, p in created.items() if p["action"]["sell"] == "USD"}
    exits = {d for d, p in created.items() if p["action"]["buy"] == "USD"}
    assert entries and exits, "the run should propose both entries and exits after the switch"
    assert entries <= denied and not entries & filled
    assert exits <= filled
    assert {created[d]["action"]["sell"] for d in exits} <= held


def test_orders_still_unfilled_when_the_run_ends_are_cancelled_and_logged(tmp_path, db_url):
    governor, engine = auto_system(tmp_path, db_url)
    for tick in range(300):
        governor.step(tick)
        if governor.state.in_flight:
            break
    decision_id = next(iter(governor.state.in_flight))
    governor.end_run()
    assert not governor.state.in_flight
    order, status, fill = OrderStore(engine).by_decision(decision_id)
    assert status == "failed" and fill is None
    assert DecisionLog(engine).entries(decision_id)[-1].stage == Stage.ORDER_CANCELLED.value
    assert OrderStore(engine).open_intents() == []


def test_two_exits_of_one_holding_in_one_tick_sell_it_once(tmp_path, db_url):
    """Regression: two auto sells of the same asset in one tick oversold and crashed the run."""
    from agents.strategies import base
    from agents.strategy import StrategiesConfig
    from core.models import Side

    @base.register
    class DoubleExit(base.Strategy):
        name = "test_double_exit"
        config_model = base.StrategyConfig

        def required_indicators(self):
            return []

        def signals(self, snapshot, sentiment, portfolio):
            held = portfolio.quantity("BTC")
            if not held:
                return [base.Signal("BTC", Side.BUY, 1.0, "enter", portfolio.cash_usd)]
            value = portfolio.position_value("BTC")
            return [base.Signal("BTC", Side.SELL, 1.0, "exit", value, quantity=held)] * 2

    try:
        governor, engine = auto_system(
            tmp_path, db_url, strategies=StrategiesConfig(enabled=("test_double_exit",))
        )
        for tick in range(6):
            governor.step(tick)
    finally:
        base._REGISTRY.pop("test_double_exit", None)
    entries = DecisionLog(engine).entries()
    failed = [e for e in entries if e.stage == Stage.ORDER_FAILED.value]
    sells_filled = [e for e in entries
                    if e.stage == Stage.ORDER_FILLED.value and e.payload["side"] == "sell"]
    assert sells_filled, "the first exit should fill"
    assert failed and all("is held and free" in e.payload["error"] for e in failed)
    assert verify(engine).ok


def test_a_bar_reached_too_late_is_marked_but_not_traded_on(tmp_path, db_url):
    """Live runs give the governor stale_after_s: a bar whose time is further behind the clock
    settles and marks, but no strategy proposes on it, and the log says so."""
    policy_path = write_policy(tmp_path, auto_max=100_000)
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    data = market(s, bars=120)
    clock = Clock()

    def governor_with(limit_s):
        runtime = LocalRuntime(build_specs(s, data=data, db_url=db_url, run_id="t"))
        return Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine), human_gate=QueueGate(ApprovalQueue(
                            engine, approvers=ApprovalsConfig(cli=("alice",)), clock=clock)),
                        run_id="t", clock=clock, stale_after_s=limit_s)

    fresh = governor_with(None)  # no limit: the same bars propose
    for tick in range(120):
        fresh.step(tick)
    assert fresh.state.stages[Stage.PROPOSAL_CREATED] > 0

    late = governor_with(3_600.0)  # the clock is years past these bars
    for tick in range(120):
        late.step(tick)
    assert late.state.stages[Stage.PROPOSAL_CREATED] == 0
    assert late.state.ticks == 120 and late.state.portfolio.tick == 119  # still marked
    skipped = [e for e in late.log.entries() if e.stage == "StaleBarSkipped"]
    assert len(skipped) == 120 and skipped[0].payload["limit_s"] == 3_600.0

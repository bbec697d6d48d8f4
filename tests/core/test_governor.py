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
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from state.orders import OrderStore
from tests.integration.support import market, settings, write_policy


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
    queue = ApprovalQueue(engine, clock=clock)
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
    queue.approve(request.request_id, approver="alice")
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
    governor.cancel_waiting(reason="the run ended before anyone decided")
    assert queue.get(request.request_id).status.value == "rejected"
    assert DecisionLog(engine).entries(request.decision_id)[-1].stage == Stage.APPROVAL_REJECTED.value


def test_the_kill_switch_denies_entries_but_lets_exits_through(system):
    governor, queue, clock, engine = system
    governor.engage_kill_switch(by="test:alice", reason="drill")
    for tick in range(200):
        governor.step(tick)
    denied = [e for e in DecisionLog(engine).entries() if e.stage == Stage.POLICY_DENIED.value]
    assert denied, "entries should have been proposed and denied"
    assert all(any(f["rule"] == "kill_switch" for f in e.payload["fired"]) for e in denied)
    assert not queue.list(), "nothing should have reached people"

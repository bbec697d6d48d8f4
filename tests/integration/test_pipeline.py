"""End to end: the whole tick on both runtimes, through every stage, leaving a log that verifies."""

from __future__ import annotations

from collections import Counter

import pytest

from core.models import Stage
from core.session import Session
from state.approvals import ApprovalQueue
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from tests.integration.support import (
    PEOPLE,
    approve_all_pending,
    market,
    scrub,
    settings,
    write_policy,
)

EVERY_STAGE = {
    Stage.PROPOSAL_CREATED, Stage.RISK_ASSESSED, Stage.POLICY_ALLOWED, Stage.POLICY_DENIED,
    Stage.REVIEW_APPROVED, Stage.APPROVAL_REQUESTED, Stage.APPROVAL_GRANTED,
    Stage.APPROVAL_REJECTED, Stage.ORDER_SUBMITTED, Stage.ORDER_FILLED, Stage.PORTFOLIO_UPDATED,
}


def run_with_a_person(session: Session, *, ticks: int, db_url: str) -> Counter:
    """Step the governor tick by tick while a person approves from the queue (as the CLI does)."""
    queue = ApprovalQueue(make_engine(db_url), approvers=PEOPLE)
    rejected_one = False
    for tick in range(ticks):
        session.governor.step(tick)
        decided = approve_all_pending(queue, reject_first=not rejected_one)
        rejected_one = rejected_one or decided > 0
    summary = session.finish()
    assert summary.ticks == ticks
    return Counter(summary.stages)


def assert_every_stage_and_a_valid_log(stages: Counter, db_url: str) -> None:
    missing = {s.value for s in EVERY_STAGE} - set(stages)
    assert not missing, f"stages never reached: {sorted(missing)}"
    result = verify(make_engine(db_url))
    assert result.ok, result.problem
    assert result.count == sum(stages.values()) + 2  # + RunStarted, RunFinished


def test_local_run_takes_decisions_through_every_stage(tmp_path, db_url):
    policy = write_policy(tmp_path, auto_max=5_000)  # 10% entries of 100k go to people
    s = settings(policy=policy)  # SOL is generated but not on the policy's allowlist
    session = Session(s, data=market(s, bars=300), db_url=db_url, runtime="local")
    stages = run_with_a_person(session, ticks=300, db_url=db_url)
    assert_every_stage_and_a_valid_log(stages, db_url)
    assert stages[Stage.ORDER_FILLED] + stages[Stage.ORDER_CANCELLED] == stages[Stage.ORDER_SUBMITTED]
    assert _open_intents(db_url) == 0  # every order ends filled, failed or cancelled


@pytest.mark.slow
def test_ray_run_takes_decisions_through_every_stage(tmp_path, db_url, ray_session):
    import ray

    policy = write_policy(tmp_path, auto_max=5_000)
    s = settings(policy=policy)
    session = Session(s, data=market(s, bars=200), db_url=db_url, runtime="ray")
    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["namespace"] == "quorum"}
    assert {"compute", "market_intel", "sentiment", "strategy", "risk", "reviewer",
            "treasury", "executor"} <= names
    stages = run_with_a_person(session, ticks=200, db_url=db_url)
    assert_every_stage_and_a_valid_log(stages, db_url)


@pytest.mark.slow
def test_same_seed_gives_same_decisions_on_both_runtimes(tmp_path, ray_session):
    policy = write_policy(tmp_path, auto_max=10_000)
    s = settings(policy=policy)
    data = market(s, bars=250)
    traces = []
    for runtime in ("local", "ray"):
        url = f"sqlite:///{tmp_path / runtime}.db"
        session = Session(s, data=data, db_url=url, runtime=runtime)
        session.governor.run(range(250))
        session.finish()
        entries = DecisionLog(make_engine(url)).entries()
        traces.append([(e.stage, scrub(e.payload)) for e in entries
                       if not e.decision_id.startswith("run-")])
    local, ray_trace = traces
    assert len(local) > 20, "the run took too few decisions to compare"
    assert local == ray_trace


def _open_intents(db_url: str) -> int:
    from state.orders import OrderStore

    return len(OrderStore(make_engine(db_url)).open_intents())


def test_market_intel_asks_for_the_fused_standard_set_with_the_strategies_indicators(
    tmp_path, db_url
):
    from core.runtime import LocalRuntime
    from core.wiring import build_specs

    s = settings(policy=write_policy(tmp_path, auto_max=10_000), assets=("BTC", "ETH"))
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=120), db_url=db_url, run_id="t"))
    snapshot = runtime.call("market_intel", "observe", 100)
    for asset in ("BTC", "ETH"):
        values = snapshot.indicators[asset]
        for key in ("ema_12", "ema_26", "rsi_14", "atr_14", "bollinger_20_2.upper",
                    "bollinger_20_2.lower", "volatility_20"):
            assert values[key] is not None, (asset, key)
        assert values["bollinger_20_2.lower"] < values["bollinger_20_2.upper"]
    assert runtime.call("compute", "health")["calls"] == 1  # one batched call for all of it

"""A backtest's paper executor batches its order commits; the run's end writes them all out.

Only a backtest batches (core/wiring.py); ``LocalRuntime.shutdown`` closes the executor, which
writes out what its store still holds, after the run's end has cancelled the unfilled orders.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime

import pytest

from agents.executor import ExecutionConfig, PaperExecutor
from core.errors import ExecutionError
from core.models import Bar, Order, Side, Stage
from core.runtime import LocalRuntime
from core.session import Session
from core.wiring import NEVER, AgentSpec, build_specs
from state.db import make_engine
from state.orders import OrderStore
from tests.integration.support import market, settings, write_policy

NEVER_DUE = 3600.0
"""An interval no test outlasts: only a read or close writes the orders out."""
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BAR = {"BTC": Bar(asset="BTC", ts=T0, open=100.0, high=101.0, low=99.0, close=100.5,
                  volume=50.0)}


def _order(decision_id: str, *, tick: int = 0) -> Order:
    return Order(order_id=f"o-{decision_id}", decision_id=decision_id, tick=tick,
                 created_at=T0, asset="BTC", side=Side.BUY, notional_usd=1_000.0)


def _statuses(db_url: str) -> dict[str, str]:
    """Each order's status as another connection sees it: only what was committed."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as con:
        return dict(con.execute("SELECT decision_id, status FROM orders"))


def _runtime(db_url: str) -> LocalRuntime:
    return LocalRuntime([AgentSpec("executor", PaperExecutor, {
        "config": ExecutionConfig(), "db_url": db_url, "commit_interval_s": NEVER_DUE,
    }, NEVER)])


def test_a_batched_executor_fills_from_memory_and_writes_out_on_close(db_url):
    executor = PaperExecutor(ExecutionConfig(), db_url=db_url, commit_interval_s=NEVER_DUE)
    assert executor.submit(_order("a")) is True
    [fill] = executor.settle(tick=1, bars=BAR)
    assert executor.submit(_order("a")) is False
    assert _statuses(db_url) == {}
    executor.close()
    assert _statuses(db_url) == {"a": "filled"}
    assert OrderStore(make_engine(db_url)).by_decision("a")[2] == fill


def test_shutting_the_local_runtime_down_writes_out_filled_and_cancelled_orders(db_url):
    runtime = _runtime(db_url)
    runtime.call("executor", "submit", _order("filled"))
    runtime.call("executor", "settle", tick=1, bars=BAR)
    runtime.call("executor", "submit", _order("cancelled", tick=1))
    runtime.call("executor", "cancel_pending", reason="the run ended")
    assert _statuses(db_url) == {}
    runtime.shutdown()
    assert _statuses(db_url) == {"filled": "filled", "cancelled": "failed"}
    assert runtime.agents == {}


def test_a_write_out_failing_at_shutdown_is_raised(db_url):
    runtime = _runtime(db_url)
    runtime.call("executor", "submit", _order("raced"))
    # another writer records the same decision before the buffer is written out
    OrderStore(make_engine(db_url)).record_intent(_order("raced").model_copy(
        update={"order_id": "o-elsewhere"}))
    with pytest.raises(ExecutionError, match="1 buffered orders were not written"):
        runtime.shutdown()
    assert runtime.agents == {}


def test_only_a_backtest_batches_the_order_commits(tmp_path, db_url):
    s = settings(policy=write_policy(tmp_path, auto_max=10_000), assets=("BTC",))
    data = market(s, bars=30)
    for backtest, interval in ((True, 0.1), (False, 0.0)):
        specs = build_specs(s, data=data, db_url=db_url, run_id="w", backtest=backtest)
        [executor] = [spec for spec in specs if spec.name == "executor"]
        assert executor.kwargs["commit_interval_s"] == interval


def test_a_backtest_session_ends_with_every_order_filled_or_cancelled(tmp_path, db_url):
    s = settings(policy=write_policy(tmp_path, auto_max=100_000), assets=("BTC", "ETH"))
    data = market(s, bars=200)
    session = Session(s, data=data, db_url=db_url, runtime="local", gate="approve")

    def an_order_is_waiting_for_the_next_bar() -> bool:  # the run's end must cancel it
        filled = session.runtime.call("executor", "health")["filled"]
        return filled >= 3 and bool(session.governor.state.in_flight)

    session.run(data.n_bars, should_stop=an_order_is_waiting_for_the_next_bar)
    stages = Counter(session.finish().stages)
    assert stages[Stage.ORDER_CANCELLED] == 1
    assert Counter(_statuses(db_url).values()) == {"filled": stages[Stage.ORDER_FILLED],
                                                   "failed": 1}
    assert stages[Stage.ORDER_FILLED] + 1 == stages[Stage.ORDER_SUBMITTED]

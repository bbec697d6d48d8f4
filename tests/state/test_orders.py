"""The order store: intents committed before sending, one order per decision."""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import ExecutionError
from core.models import Order
from state.db import make_engine
from state.orders import OrderStore
from tests.state.support import make_fill, make_order


def test_intent_is_committed_before_sending(engine, db_path):
    order = make_order()
    assert OrderStore(engine).record_intent(order) is True
    with sqlite3.connect(db_path) as con:  # another connection sees it: it is committed
        rows = con.execute("SELECT order_id, decision_id, status FROM orders").fetchall()
    assert rows == [("o-1", "d-1", "intent")]
    assert OrderStore(engine).open_intents() == [order]


def test_second_order_for_a_decision_is_refused_and_writes_nothing(engine):
    store = OrderStore(engine)
    original = make_order(1)
    assert store.record_intent(original)
    retry = original.model_copy(update={"order_id": "o-retry", "notional_usd": 5.0})
    assert store.record_intent(retry) is False
    assert store.record_intent(original) is False
    assert store.by_decision("d-1") == (original, "intent", None)
    assert store.open_intents() == [original]


def test_fill_is_recorded_and_closes_the_intent(engine):
    store = OrderStore(engine)
    order = make_order()
    store.record_intent(order)
    fill = make_fill(order)
    store.mark_filled(order.order_id, fill)
    assert store.by_decision(order.decision_id) == (order, "filled", fill)
    assert store.open_intents() == []
    store.mark_filled(order.order_id, fill)  # the same fill again is a no-op
    with pytest.raises(ExecutionError, match="order o-1 is already filled; cannot mark it failed"):
        store.mark_failed(order.order_id, "timeout")
    with pytest.raises(ExecutionError, match="already filled"):
        store.mark_filled(order.order_id, make_fill(order, price=2100.0))


def test_failure_is_recorded(engine):
    store = OrderStore(engine)
    orders = [make_order(n) for n in range(3)]
    for order in orders:
        store.record_intent(order)
    store.mark_failed("o-1", "rpc timeout")
    assert store.by_decision("d-1") == (orders[1], "failed", None)
    assert store.open_intents() == [orders[0], orders[2]]
    with pytest.raises(ExecutionError, match="already failed; cannot mark it filled"):
        store.mark_filled("o-1", make_fill(orders[1]))


@pytest.mark.parametrize("commit_interval_s", [0.0, 3600.0], ids=["each-write", "batched"])
def test_unknown_order_and_mismatched_fill_are_named(engine, commit_interval_s):
    store = OrderStore(engine, commit_interval_s=commit_interval_s)
    order = make_order()
    with pytest.raises(ExecutionError, match="order o-1 was never recorded"):
        store.mark_filled("o-1", make_fill(order))
    store.record_intent(order)
    with pytest.raises(ExecutionError, match="order o-1: the fill is for order o-2"):
        store.mark_filled("o-1", make_fill(make_order(2)))
    assert store.by_decision("d-unknown") is None


def test_order_id_reused_by_another_decision_is_an_error(engine):
    store = OrderStore(engine)
    store.record_intent(make_order(1))
    clash = Order.model_validate(make_order(1).model_dump() | {"decision_id": "d-other"})
    with pytest.raises(ExecutionError, match="order_id is already used"):
        store.record_intent(clash)


def test_open_intents_survive_a_restart(engine, db_path):
    order = make_order()
    OrderStore(engine).record_intent(order)
    engine.dispose()
    reopened = make_engine(f"sqlite:///{db_path}")
    store = OrderStore(reopened)
    assert store.open_intents() == [order]
    assert store.record_intent(order) is False
    reopened.dispose()

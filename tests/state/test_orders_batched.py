"""The order store with batched commits (backtests): the same answers, fewer transactions.

Writes stay in memory until ``commit_interval_s`` has passed since the last write-out, a read,
``flush`` or ``close``; every duplicate and state check still answers at once.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from core.errors import ExecutionError
from core.models import Order
from state.orders import OrderStore
from tests.state.support import make_fill, make_order

NEVER_DUE = 3600.0
"""An interval no test outlasts: only flush, close and reads write out."""


def _rows(db_path) -> list[tuple]:
    """What another connection sees: only what was committed."""
    with sqlite3.connect(db_path) as con:
        return con.execute(
            "SELECT order_id, decision_id, status, fill_json IS NOT NULL, error FROM orders "
            "ORDER BY order_id"
        ).fetchall()


def test_buffered_orders_reach_the_database_only_when_written_out(engine, db_path):
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    orders = [make_order(n) for n in range(3)]
    assert all(store.record_intent(order) for order in orders)
    store.mark_filled("o-0", make_fill(orders[0]))
    store.mark_failed("o-1", "cancelled: the run ended")
    assert _rows(db_path) == []
    store.close()
    assert _rows(db_path) == [
        ("o-0", "d-0", "filled", 1, None),
        ("o-1", "d-1", "failed", 0, "cancelled: the run ended"),
        ("o-2", "d-2", "intent", 0, None),
    ]
    assert OrderStore(engine).by_decision("d-0") == (orders[0], "filled", make_fill(orders[0]))


def test_a_second_order_for_a_decision_is_refused_while_buffered_and_after(engine, db_path):
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    original = make_order(1)
    retry = original.model_copy(update={"order_id": "o-retry"})
    clash = Order.model_validate(original.model_dump() | {"decision_id": "d-other"})
    assert store.record_intent(original) is True
    assert store.record_intent(retry) is False
    assert store.record_intent(original) is False
    with pytest.raises(ExecutionError, match="order o-1 .* order_id is already used"):
        store.record_intent(clash)
    store.flush()
    assert store.record_intent(retry) is False
    with pytest.raises(ExecutionError, match="order_id is already used"):
        store.record_intent(clash)
    # a restarted (unbatched) store on the same file agrees
    assert OrderStore(engine).record_intent(retry) is False
    store.close()
    assert _rows(db_path) == [("o-1", "d-1", "intent", 0, None)]


def test_a_buffered_intent_is_filled_once_and_then_refuses_other_outcomes(engine, db_path):
    """One fill, the same fill again, nothing else (an unknown order and a mismatched fill:
    test_orders.py, for both kinds of store)."""
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    order = make_order()
    store.record_intent(order)
    fill = make_fill(order)
    store.mark_filled("o-1", fill)
    store.mark_filled("o-1", fill)  # the same fill again is a no-op
    with pytest.raises(ExecutionError, match="order o-1 is already filled; cannot mark it failed"):
        store.mark_failed("o-1", "timeout")
    with pytest.raises(ExecutionError, match="already filled"):
        store.mark_filled("o-1", make_fill(order, price=2100.0))
    assert _rows(db_path) == []
    store.close()
    assert OrderStore(engine).by_decision("d-1") == (order, "filled", fill)


def test_the_outcome_of_an_intent_already_written_out_is_buffered_too(engine, db_path):
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    orders = [make_order(n) for n in range(2)]
    for order in orders:
        store.record_intent(order)
    store.flush()
    store.mark_failed("o-0", "rpc timeout")
    store.mark_failed("o-0", "rpc timeout")  # repeated: a no-op
    with pytest.raises(ExecutionError, match="order o-0 is already failed; cannot mark it filled"):
        store.mark_filled("o-0", make_fill(orders[0]))
    store.mark_filled("o-1", make_fill(orders[1]))
    assert _rows(db_path) == [("o-0", "d-0", "intent", 0, None), ("o-1", "d-1", "intent", 0, None)]
    store.close()
    assert _rows(db_path) == [("o-0", "d-0", "failed", 0, "rpc timeout"),
                              ("o-1", "d-1", "filled", 1, None)]
    with pytest.raises(ExecutionError, match="order o-1 is already filled; cannot mark it failed"):
        store.mark_failed("o-1", "late")


def test_reads_see_buffered_writes(engine, db_path):
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    orders = [make_order(n) for n in range(3)]
    for order in orders:
        store.record_intent(order)
    store.mark_filled("o-1", make_fill(orders[1]))
    assert store.open_intents() == [orders[0], orders[2]]
    store.mark_failed("o-2", "no bar")
    assert store.by_decision("d-2") == (orders[2], "failed", None)
    assert store.by_decision("d-1") == (orders[1], "filled", make_fill(orders[1]))
    assert [status for _, _, status, _, _ in _rows(db_path)] == ["intent", "filled", "failed"]


def test_a_write_after_the_interval_writes_the_buffer_out(engine, db_path):
    store = OrderStore(engine, commit_interval_s=0.05)
    time.sleep(0.06)  # the interval has passed since the store began
    store.record_intent(make_order(1))
    assert _rows(db_path) == [("o-1", "d-1", "intent", 0, None)]


def test_a_write_out_that_lost_a_race_fails_closed_and_keeps_the_buffer(engine, db_path):
    """Another writer recorded the same decision after the buffered intent was checked."""
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    store.record_intent(make_order(1))
    other = make_order(1).model_copy(update={"order_id": "o-elsewhere"})
    assert OrderStore(engine).record_intent(other) is True
    with pytest.raises(ExecutionError, match="1 buffered orders were not written"):
        store.close()
    with pytest.raises(ExecutionError, match="were not written"):  # still buffered, still refused
        store.close()
    assert _rows(db_path) == [("o-elsewhere", "d-1", "intent", 0, None)]


def test_a_decision_another_writer_recorded_before_fails_the_write_out(engine, db_path):
    """A batched store reads nothing per intent: what another writer holds is found when the
    buffer is written, and nothing of it is written."""
    OrderStore(engine).record_intent(make_order(1))
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    assert store.record_intent(make_order(1).model_copy(update={"order_id": "o-again"})) is True
    store.record_intent(make_order(2))
    with pytest.raises(ExecutionError, match="2 buffered orders were not written"):
        store.flush()
    assert _rows(db_path) == [("o-1", "d-1", "intent", 0, None)]


def test_an_outcome_whose_intent_was_finished_elsewhere_is_not_written(engine, db_path):
    store = OrderStore(engine, commit_interval_s=NEVER_DUE)
    order = make_order(1)
    store.record_intent(order)
    store.flush()
    store.mark_failed("o-1", "cancelled")
    OrderStore(engine).mark_filled("o-1", make_fill(order))
    with pytest.raises(ExecutionError, match="o-1 is no longer an intent .* \\(failed\\) was not"):
        store.close()
    assert _rows(db_path) == [("o-1", "d-1", "filled", 1, None)]


def test_a_negative_interval_is_refused(engine):
    with pytest.raises(ValueError, match="commit_interval_s is -1"):
        OrderStore(engine, commit_interval_s=-1)

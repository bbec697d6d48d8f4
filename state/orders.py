"""The order store: an order is written (and committed) as an intent before it is sent.

``decision_id`` is the idempotency key: a decision yields at most one order, so a restart after
a crash can never send it twice. Open intents are what a restart must reconcile. This module
never sends anything and never deletes a row.

A backtest may batch the writes (``commit_interval_s``): they are kept in memory and written in
one transaction at most that often, and on ``flush``/``close``. A second order for a decision
this store recorded is refused at once, as is an order id it gave another decision; one another
writer recorded fails the write-out (closed: the run stops), so no intent costs a read. State
checks of outcomes run at once against the buffer and the database; reads write it out first.
A crash then loses the buffered orders, which a backtest (re-run from scratch) can afford; live
and chain runs keep the default, 0: every write is its own committed transaction.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.canonical import canonical_bytes
from core.errors import ExecutionError
from core.models import Fill, Order
from state.db import dbapi_transaction
from state.tables import OrderRow, OrderStatus

_TABLE = OrderRow.__table__
_COLUMNS = _TABLE.c


class OrderStore:
    """Records order intents and their outcomes.

    The two writes every order makes (its intent, its outcome) run as prebuilt statements on a
    pooled connection's DBAPI cursor, each its own committed transaction: SQLAlchemy's
    per-statement cost was several times the insert's (a backtest makes thousands of orders).
    With ``commit_interval_s`` > 0 they are buffered instead (see the module docstring); one
    thread only.
    """

    def __init__(self, engine: Engine, *, commit_interval_s: float = 0.0) -> None:
        if commit_interval_s < 0:
            raise ValueError(f"commit_interval_s is {commit_interval_s}, expected >= 0")
        self._engine = engine
        self._insert = _Statement(engine, insert(_TABLE).values(
            {name: bindparam(name) for name in _INSERTED}))
        self._insert_finished = _Statement(engine, insert(_TABLE).values(
            {name: bindparam(name) for name in _INSERTED + _OUTCOME}))
        self._finish_stmt = _Statement(engine, update(_TABLE).where(
            _COLUMNS.order_id == bindparam("where_order_id"),
            _COLUMNS.status == bindparam("where_status"),
        ).values(status=bindparam("new_status"), fill_json=bindparam("new_fill_json"),
                 error=bindparam("new_error")))
        self._created_at = _COLUMNS.created_at.type.bind_processor(engine.dialect) or (
            lambda value: value)
        self._integrity_error = engine.dialect.dbapi.IntegrityError
        self._commit_interval_s = commit_interval_s
        self._last_write_out = time.monotonic()
        self._new: dict[str, dict[str, Any]] = {}
        """Buffered orders not in the database yet, by order id: the row as it will be written."""
        self._recorded: dict[str, str] = {}
        """order id -> decision id of every order this batched store recorded."""
        self._decided: set[str] = set()
        """The decisions of those orders."""
        self._finished: dict[str, dict[str, Any]] = {}
        """Buffered outcomes of orders the database holds as intents, by order id."""

    def record_intent(self, order: Order) -> bool:
        """Commit ``order`` as an intent; False (nothing written) if its decision has one.

        The unique decision id decides (no read first): a duplicate fails the insert. Batched,
        the intent is buffered and only what this store recorded is looked up; a decision that
        another writer recorded fails the write-out instead (see the module docstring)."""
        row = {
            "order_id": order.order_id,
            "decision_id": order.decision_id,
            "order_json": canonical_bytes(order).decode("utf-8"),
            "status": "intent",
            "created_at": self._created_at(order.created_at),
        }
        if self._commit_interval_s:
            return self._buffer_intent(row)
        try:
            self._insert.run(row)
        except (IntegrityError, self._integrity_error) as exc:
            if self._row_by_decision(order.decision_id) is not None:  # recorded before
                return False
            raise _reused(order.order_id, order.decision_id) from exc
        return True

    def mark_filled(self, order_id: str, fill: Fill) -> None:
        """Record the fill of an intent; repeating the same fill is a no-op."""
        if fill.order_id != order_id:
            raise ExecutionError(f"order {order_id}: the fill is for order {fill.order_id}")
        fill_json = canonical_bytes(fill).decode("utf-8")
        self._finish(order_id, {"status": "filled", "fill_json": fill_json})

    def mark_failed(self, order_id: str, error: str) -> None:
        """Record that an intent failed; repeating the same error is a no-op."""
        self._finish(order_id, {"status": "failed", "error": error})

    def by_decision(self, decision_id: str) -> tuple[Order, OrderStatus, Fill | None] | None:
        """The decision's order, its status and its fill (if filled); None if it has none."""
        self.flush()
        row = self._row_by_decision(decision_id)
        if row is None:
            return None
        fill = Fill.model_validate_json(row.fill_json) if row.fill_json else None
        return Order.model_validate_json(row.order_json), cast(OrderStatus, row.status), fill

    def open_intents(self) -> list[Order]:
        """Orders recorded but neither filled nor failed, oldest first."""
        self.flush()
        stmt = (
            select(_COLUMNS.order_json)
            .where(_COLUMNS.status == "intent")
            .order_by(_COLUMNS.created_at, _COLUMNS.order_id)
        )
        with self._engine.connect() as conn:
            return [Order.model_validate_json(text) for text in conn.execute(stmt).scalars()]

    def flush(self) -> None:
        """Write every buffered order and outcome in one transaction (nothing if none).

        On failure nothing is written and the buffer stays as it was; the error is raised."""
        if not self._new and not self._finished:
            return
        new = [self._insert_finished.args(row) for row in self._new.values()]
        try:
            with dbapi_transaction(self._engine) as cursor:
                if new:
                    cursor.executemany(self._insert_finished.sql, new)
                for order_id, values in self._finished.items():
                    cursor.execute(self._finish_stmt.sql,
                                   self._finish_stmt.args(_finish_params(order_id, values)))
                    if cursor.rowcount != 1:
                        raise ExecutionError(
                            f"order {order_id} is no longer an intent in the database; its "
                            f"buffered outcome ({values['status']}) was not written")
        except self._integrity_error as exc:
            raise ExecutionError(
                f"{len(new)} buffered orders were not written: another writer recorded one of "
                "their order ids or decisions first") from exc
        self._new, self._finished = {}, {}
        self._last_write_out = time.monotonic()

    def close(self) -> None:
        """Write out whatever is buffered (a no-op when writes are not batched)."""
        self.flush()

    def _buffer_intent(self, row: dict[str, Any]) -> bool:
        order_id, decision_id = row["order_id"], row["decision_id"]
        if decision_id in self._decided:
            return False
        if order_id in self._recorded:
            raise _reused(order_id, decision_id)
        self._new[order_id] = row | {"fill_json": None, "error": None}
        self._recorded[order_id] = decision_id
        self._decided.add(decision_id)
        self._write_out_when_due()
        return True

    def _finish(self, order_id: str, values: dict[str, Any]) -> None:
        if self._commit_interval_s:
            self._buffer_finish(order_id, values)
            return
        if self._finish_stmt.run(_finish_params(order_id, values)) == 1:
            return
        row = self._row(order_id)
        if row is None:
            raise ExecutionError(f"order {order_id} was never recorded as an intent")
        _refuse_unless_same(order_id, row._mapping, values)

    def _buffer_finish(self, order_id: str, values: dict[str, Any]) -> None:
        """Buffer an outcome: into the buffered order itself, or beside an intent on disk."""
        current: Any = self._new.get(order_id) or self._finished.get(order_id)
        if current is None:
            row = self._row(order_id)
            if row is None:
                raise ExecutionError(f"order {order_id} was never recorded as an intent")
            current = row._mapping
            if current["status"] == "intent":
                self._finished[order_id] = values
                self._write_out_when_due()
                return
        elif current.get("status") == "intent":  # buffered, not yet finished
            current.update({"fill_json": None, "error": None} | values)
            self._write_out_when_due()
            return
        _refuse_unless_same(order_id, current, values)

    def _write_out_when_due(self) -> None:
        if time.monotonic() - self._last_write_out >= self._commit_interval_s:
            self.flush()

    def _row(self, order_id: str) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(select(_TABLE).where(_COLUMNS.order_id == order_id)).first()

    def _row_by_decision(self, decision_id: str) -> Any:
        with self._engine.connect() as conn:
            stmt = select(_TABLE).where(_COLUMNS.decision_id == decision_id)
            return conn.execute(stmt).first()


_INSERTED = ("order_id", "decision_id", "order_json", "status", "created_at")
_OUTCOME = ("fill_json", "error")


def _finish_params(order_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The finish statement's parameters: ``order_id`` from intent to ``values``."""
    return {"where_order_id": order_id, "where_status": "intent",
            "new_status": values["status"], "new_fill_json": values.get("fill_json"),
            "new_error": values.get("error")}


def _refuse_unless_same(order_id: str, current: Any, values: dict[str, Any]) -> None:
    """An order already finished: the same outcome again is a no-op, any other an error."""
    if all(current.get(key) == value for key, value in values.items()):
        return
    raise ExecutionError(
        f"order {order_id} is already {current['status']}; cannot mark it {values['status']}"
    )


def _reused(order_id: str, decision_id: str) -> ExecutionError:
    return ExecutionError(
        f"order {order_id} (decision {decision_id}) cannot be recorded: "
        "its order_id is already used by another decision"
    )


class _Statement:
    """One statement compiled once for the engine's dialect, run on a pooled DBAPI connection;
    parameters are the driver's values (bind processing done)."""

    def __init__(self, engine: Engine, statement: Any) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self._engine = engine
        self.sql = compiled.string
        self._order = compiled.positiontup  # None: the driver takes named parameters

    def args(self, params: dict[str, Any]) -> Any:
        """``params`` as the driver takes them (named or positional)."""
        return params if self._order is None else tuple(params[name] for name in self._order)

    def run(self, params: dict[str, Any]) -> int:
        """Execute and commit in its own transaction; the number of rows it touched."""
        with dbapi_transaction(self._engine) as cursor:
            cursor.execute(self.sql, self.args(params))
            return cursor.rowcount

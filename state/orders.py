"""The order store: an order is written (and committed) as an intent before it is sent.

``decision_id`` is the idempotency key: a decision yields at most one order, so a restart after
a crash can never send it twice. Open intents are what a restart must reconcile. This module
never sends anything and never deletes a row.
"""

from __future__ import annotations

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
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = _Statement(engine, insert(_TABLE).values(
            {name: bindparam(name) for name in _INSERTED}))
        self._finish_stmt = _Statement(engine, update(_TABLE).where(
            _COLUMNS.order_id == bindparam("where_order_id"),
            _COLUMNS.status == bindparam("where_status"),
        ).values(status=bindparam("new_status"), fill_json=bindparam("new_fill_json"),
                 error=bindparam("new_error")))
        self._created_at = _COLUMNS.created_at.type.bind_processor(engine.dialect) or (
            lambda value: value)
        self._integrity_error = engine.dialect.dbapi.IntegrityError

    def record_intent(self, order: Order) -> bool:
        """Commit ``order`` as an intent; False (nothing written) if its decision has one.

        The unique decision id decides (no read first): a duplicate fails the insert."""
        row = {
            "order_id": order.order_id,
            "decision_id": order.decision_id,
            "order_json": canonical_bytes(order).decode("utf-8"),
            "status": "intent",
            "created_at": self._created_at(order.created_at),
        }
        try:
            self._insert.run(row)
        except (IntegrityError, self._integrity_error) as exc:
            if self._row_by_decision(order.decision_id) is not None:  # recorded before
                return False
            raise ExecutionError(
                f"order {order.order_id} (decision {order.decision_id}) cannot be recorded: "
                "its order_id is already used by another decision"
            ) from exc
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
        row = self._row_by_decision(decision_id)
        if row is None:
            return None
        fill = Fill.model_validate_json(row.fill_json) if row.fill_json else None
        return Order.model_validate_json(row.order_json), cast(OrderStatus, row.status), fill

    def open_intents(self) -> list[Order]:
        """Orders recorded but neither filled nor failed, oldest first."""
        stmt = (
            select(_COLUMNS.order_json)
            .where(_COLUMNS.status == "intent")
            .order_by(_COLUMNS.created_at, _COLUMNS.order_id)
        )
        with self._engine.connect() as conn:
            return [Order.model_validate_json(text) for text in conn.execute(stmt).scalars()]

    def _finish(self, order_id: str, values: dict[str, Any]) -> None:
        params = {"where_order_id": order_id, "where_status": "intent",
                  "new_status": values["status"], "new_fill_json": values.get("fill_json"),
                  "new_error": values.get("error")}
        if self._finish_stmt.run(params) == 1:
            return
        row = self._row(order_id)
        if row is None:
            raise ExecutionError(f"order {order_id} was never recorded as an intent")
        if all(getattr(row, key) == value for key, value in values.items()):
            return
        raise ExecutionError(
            f"order {order_id} is already {row.status}; cannot mark it {values['status']}"
        )

    def _row(self, order_id: str) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(select(_TABLE).where(_COLUMNS.order_id == order_id)).first()

    def _row_by_decision(self, decision_id: str) -> Any:
        with self._engine.connect() as conn:
            stmt = select(_TABLE).where(_COLUMNS.decision_id == decision_id)
            return conn.execute(stmt).first()


_INSERTED = ("order_id", "decision_id", "order_json", "status", "created_at")


class _Statement:
    """One statement compiled once for the engine's dialect, run in its own transaction on a
    pooled DBAPI connection; parameters are the driver's values (bind processing done)."""

    def __init__(self, engine: Engine, statement: Any) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self._engine = engine
        self._sql = compiled.string
        self._order = compiled.positiontup  # None: the driver takes named parameters

    def run(self, params: dict[str, Any]) -> int:
        """Execute and commit; the number of rows it touched."""
        args = params if self._order is None else tuple(params[name] for name in self._order)
        with dbapi_transaction(self._engine) as cursor:
            cursor.execute(self._sql, args)
            return cursor.rowcount

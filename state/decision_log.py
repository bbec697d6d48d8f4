"""The decision log: append-only, hash-chained, verifiable.

Entry i stores the hash of entry i-1 and the SHA-256 of its own canonical bytes, so an edited,
deleted, inserted or reordered entry breaks the chain at a place ``verify`` can name. Several
writers may share one database (a run and a backtest on the same file): an entry's place in the
chain is only settled when ``flush`` writes it, re-chaining on top of whatever another writer
wrote first. What a hash covers, and ``verify``, live in state/log_chain.py. This module never
updates or deletes a row, and never swallows an error while writing.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, Self

from pydantic import BaseModel
from sqlalchemy import Engine, func, insert, select

from core.canonical import canonical_bytes
from core.errors import AuditError
from core.models import GENESIS_HASH, DecisionLogEntry
from state.db import dbapi_transaction
from state.log_chain import VerifyResult, chain_hash, entry_hash, verify
from state.tables import LogEntryRow, as_utc, utc_now

__all__ = [
    "Appended", "DecisionLog", "VerifyResult", "entry_hash", "latest_decision_ids",
    "read_entries", "verify",
]

_TABLE = LogEntryRow.__table__
_COLUMNS = _TABLE.c
_FIELDS = ("index", "decision_id", "stage", "logged_at", "payload_json", "prev_hash", "hash")
_FLUSH_ATTEMPTS = 50
"""How many times a flush re-chains on top of other writers' entries before giving up."""
_new_tuple = tuple.__new__
_HEAD = select(_COLUMNS.index, _COLUMNS.hash).order_by(_COLUMNS.index.desc()).limit(1)


class Appended(NamedTuple):
    """Where ``append`` put an entry in this writer's view of the chain.

    Final unless another writer takes those indices first: ``flush`` then re-chains the entry
    on top of theirs, and ``entries()`` tells where it landed.
    """

    index: int
    prev_hash: str
    hash: str


class DecisionLog:
    """Appends entries to the chain, buffering them until ``flush`` writes them in one go.

    Index and hashes are given at ``append`` from this writer's view of the head; if another
    writer has taken those indices by the time of ``flush``, the buffered entries are re-chained
    on top of the database's head (same logged_at and payload) and written there.

    ``min_commit_interval_s`` batches commits for runs that flush faster than they need to be
    durable (a backtest flushes every tick, thousands a second): a flush sooner than that after
    the last commit keeps its entries buffered for a later flush, and ``close`` (or ``entries``)
    writes whatever is left. A crash then loses up to that long of entries, or more if no flush
    follows, so live runs keep the default, 0: every flush commits.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        min_commit_interval_s: float = 0.0,
    ) -> None:
        if min_commit_interval_s < 0:
            raise ValueError(f"min_commit_interval_s is {min_commit_interval_s}, expected >= 0")
        self._engine = engine
        self._min_commit_interval_s = min_commit_interval_s
        self._last_commit = float("-inf")  # time.monotonic() of the last commit
        self._lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._insert_sql, self._to_params = _bulk_insert(engine)
        self._integrity_error = engine.dialect.dbapi.IntegrityError
        self._stamp = _stamper(engine, clock)
        self._next_index, self._head_hash = self._database_head()

    def append(self, decision_id: str, stage: str, payload: dict[str, Any] | BaseModel) -> Appended:
        """Chain one entry now (index, prev_hash, hash) and buffer it for the next flush.

        The hot path of every decision: it builds no entry object; ``entries()`` reads them.
        """
        payload_bytes = canonical_bytes(payload)
        if payload_bytes[:1] != b"{":
            raise TypeError(f"a log payload must be a dict or a model, not {type(payload).__name__}")
        payload_json = payload_bytes.decode("utf-8")
        stage = str(stage)
        # logged_at as the hash covers it, and as the driver takes it: flush is one executemany.
        logged_at_iso, stored_at = self._stamp()
        with self._lock:
            index, prev_hash = self._next_index, self._head_hash
            digest = chain_hash(index, decision_id, stage, logged_at_iso, payload_bytes, prev_hash)
            self._buffer.append(
                (index, decision_id, stage, stored_at, payload_json, prev_hash, digest)
            )
            self._next_index, self._head_hash = index + 1, digest
        return _new_tuple(Appended, (index, prev_hash, digest))  # Appended(...) minus a frame

    def flush(self, *, force: bool = False) -> None:
        """Write every buffered entry in one transaction; on failure they stay buffered.

        When another writer has taken the buffered indices, the entries are re-chained on top
        of the database's head and written again, up to a bounded number of attempts. With a
        ``min_commit_interval_s``, a flush that comes sooner than that after the last commit
        writes nothing, unless ``force``.
        """
        if not self._buffer:  # most ticks log nothing; an append racing this flush waits for the next
            return
        with self._lock:
            if not self._buffer:
                return
            if not force and time.monotonic() - self._last_commit < self._min_commit_interval_s:
                return
            for attempt in range(1, _FLUSH_ATTEMPTS + 1):
                try:
                    self._write(self._to_params(self._buffer))
                except self._integrity_error as exc:
                    first = self._buffer[0][0]
                    if not self._rechain_on_database_head():
                        raise AuditError(
                            f"decision log: entry {first} could not be written, and no other "
                            f"writer took its place: {exc}"
                        ) from exc
                    if attempt < _FLUSH_ATTEMPTS:
                        time.sleep(random.uniform(0, 0.002 * attempt))  # let the other writer by
                    continue
                self._buffer = []
                self._last_commit = time.monotonic()
                return
            raise AuditError(
                f"decision log: {len(self._buffer)} entries not written after {_FLUSH_ATTEMPTS} "
                "attempts: other writers kept taking the next index of the chain"
            )

    def _write(self, rows: list[Any]) -> None:
        """One transaction of inserts straight on a pooled connection's DBAPI cursor (a run
        commits once per tick)."""
        with dbapi_transaction(self._engine) as cursor:
            cursor.executemany(self._insert_sql, rows)

    def _rechain_on_database_head(self) -> bool:
        """Give the buffered entries new places after the database's head; False if unmoved."""
        next_index, prev_hash = self._database_head()
        first = self._buffer[0]
        if next_index == first[0] and prev_hash == first[5]:
            return False
        rechained = []
        for _, decision_id, stage, stored_at, payload_json, _, _ in self._buffer:
            logged_at_iso = as_utc(stored_at).isoformat()  # the text it was hashed with
            digest = chain_hash(
                next_index, decision_id, stage, logged_at_iso, payload_json.encode(), prev_hash
            )
            rechained.append(
                (next_index, decision_id, stage, stored_at, payload_json, prev_hash, digest)
            )
            next_index, prev_hash = next_index + 1, digest
        self._buffer = rechained
        self._next_index, self._head_hash = next_index, prev_hash
        return True

    def _database_head(self) -> tuple[int, str]:
        """(index after the last stored entry, its hash), from the database as committed now."""
        with self._engine.connect() as conn:
            last = conn.execute(_HEAD).first()
        return (0, GENESIS_HASH) if last is None else (last.index + 1, last.hash)

    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the last one), buffered entries included."""
        with self._lock:
            return self._next_index, self._head_hash

    def entries(self, decision_id: str | None = None) -> list[DecisionLogEntry]:
        """Entries in index order, all or one decision's, read back from the database."""
        self.flush(force=True)
        return read_entries(self._engine, decision_id)

    def close(self) -> None:
        """Write whatever is buffered, batched commits or not."""
        self.flush(force=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()


def read_entries(engine: Engine, decision_id: str | None = None) -> list[DecisionLogEntry]:
    """Entries in index order, all or one decision's, as the database holds them now."""
    stmt = select(_TABLE).order_by(_COLUMNS.index)
    if decision_id is not None:
        stmt = stmt.where(_COLUMNS.decision_id == decision_id)
    try:
        with engine.connect() as conn:
            return [_entry_from_row(row) for row in conn.execute(stmt)]
    except ValueError:  # bad JSON, text or time in a row: the chain walk names which and why
        raise AuditError(_unreadable(engine)) from None


def _unreadable(engine: Engine) -> str:
    result = verify(engine)
    where = result.problem if not result.ok else "a row does not read back"
    return f"the decision log cannot be read: {where} (`quorum audit verify` checks it all)"


def latest_decision_ids(engine: Engine, *, limit: int) -> list[str]:
    """The ids of the ``limit`` decisions whose last entry is newest, newest first."""
    last = func.max(_COLUMNS.index)
    stmt = (
        select(_COLUMNS.decision_id).group_by(_COLUMNS.decision_id).order_by(last.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def _bulk_insert(
    engine: Engine,
) -> tuple[str, Callable[[list[tuple[Any, ...]]], list[Any]]]:
    """The dialect's INSERT text and how to turn buffered tuples into its parameters."""
    compiled = insert(_TABLE).compile(dialect=engine.dialect)
    order = compiled.positiontup
    if order is None:
        return compiled.string, lambda rows: [dict(zip(_FIELDS, row)) for row in rows]
    if tuple(order) == _FIELDS:
        return compiled.string, lambda rows: rows
    picks = [_FIELDS.index(name) for name in order]
    return compiled.string, lambda rows: [tuple(row[i] for i in picks) for row in rows]


def _stamper(engine: Engine, clock: Callable[[], datetime]) -> Callable[[], tuple[str, Any]]:
    """What ``append`` calls for (logged_at's ISO text, the value the driver stores for it)."""
    to_driver = _logged_at_binder(engine)
    if clock is utc_now and to_driver is _sqlite_text:
        return _utc_now_stamp

    def stamp() -> tuple[str, Any]:
        iso = _iso_in_utc(clock())
        return iso, to_driver(iso)

    return stamp


_second_texts: tuple[int, str, str] = (-1, "", "")
"""The last whole second ``_utc_now_stamp`` saw, as ISO text and as SQLite text, to the second."""


def _utc_now_stamp() -> tuple[str, str]:
    """``utc_now()`` as ISO text and as sqlite3 stores it, the second's text made once a second."""
    global _second_texts
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    cached, iso, text = _second_texts
    if second != cached:
        iso = datetime.fromtimestamp(second, UTC).isoformat()[:19]
        text = f"{iso[:10]} {iso[11:]}"
        _second_texts = (second, iso, text)
    if micro:
        fraction = f".{micro:06d}"
        return f"{iso}{fraction}+00:00", text + fraction
    return f"{iso}+00:00", text


def _iso_in_utc(moment: datetime) -> str:
    """ISO 8601 text of ``moment`` in UTC (naive means UTC), as an entry's hash covers it."""
    return (moment if moment.tzinfo is UTC else as_utc(moment)).isoformat()


def _logged_at_binder(engine: Engine) -> Callable[[str], Any]:
    """How logged_at's ISO text becomes the value handed to the driver.

    Whatever SQLAlchemy would bind for the datetime, except that on sqlite3 the text the driver
    would make of it is cut from the ISO text (checked here, on this engine, against the
    driver's own adapter): the same stored bytes without a datetime per row.
    """
    bind = _COLUMNS.logged_at.type.bind_processor(engine.dialect)
    if bind is None:
        return as_utc
    if all(_driver_text(engine, bind(probe)) == _sqlite_text(probe.isoformat())
           for probe in _PROBES):
        return _sqlite_text
    return lambda iso: bind(as_utc(iso))


_PROBES = (datetime(2024, 3, 1, 12, 0, tzinfo=UTC), datetime(999, 1, 2, 3, 4, 5, 60, tzinfo=UTC))


def _driver_text(engine: Engine, bound: Any) -> str | None:
    """The text sqlite3 stores for a bound value (its registered adapter), None elsewhere."""
    dbapi = engine.dialect.dbapi
    if engine.dialect.driver != "pysqlite" or type(bound) is not datetime:
        return None
    adapter = dbapi.adapters.get((datetime, dbapi.PrepareProtocol))
    return adapter(bound) if adapter is not None else None


def _sqlite_text(iso: str) -> str:
    """``2024-03-01T12:00:00.000060+00:00`` as sqlite3 writes the naive UTC datetime."""
    return f"{iso[:10]} {iso[11:-6]}"


def _entry_from_row(row: Any) -> DecisionLogEntry:
    return DecisionLogEntry(
        index=row.index,
        decision_id=row.decision_id,
        stage=row.stage,
        logged_at=row.logged_at,
        payload=json.loads(row.payload_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )

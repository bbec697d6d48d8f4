"""The decision log: append-only, hash-chained, verifiable.

Entry i stores the hash of entry i-1 and the SHA-256 of its own canonical bytes, so an edited,
deleted, inserted or reordered entry breaks the chain at a place ``verify`` can name. Several
writers may share one database (a run and a backtest on the same file): an entry's place in the
chain is only settled when ``flush`` writes it, re-chaining on top of whatever another writer
wrote first. This module never updates or deletes a row, and never swallows an error while
writing.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy import Engine, String, insert, select, type_coerce
from sqlalchemy.exc import IntegrityError

from core.canonical import canonical_bytes, sha256_hex, to_jsonable
from core.errors import AuditError
from core.models import GENESIS_HASH, DecisionLogEntry
from state.tables import LogEntryRow, as_utc, utc_now

_TABLE = LogEntryRow.__table__
_COLUMNS = _TABLE.c
_FIELDS = ("index", "decision_id", "stage", "logged_at", "payload_json", "prev_hash", "hash")
_dumps_str = json.JSONEncoder(ensure_ascii=False).encode
_FLUSH_ATTEMPTS = 50
"""How many times a flush re-chains on top of other writers' entries before giving up."""
_HEAD = select(_COLUMNS.index, _COLUMNS.hash).order_by(_COLUMNS.index.desc()).limit(1)


def entry_hash(
    index: int,
    decision_id: str,
    stage: str,
    logged_at: datetime,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 hex of the canonical bytes of an entry's six fields (logged_at as ISO, UTC)."""
    return sha256_hex(
        {
            "index": index,
            "decision_id": decision_id,
            "stage": stage,
            "logged_at": as_utc(logged_at).isoformat(),
            "payload": payload,
            "prev_hash": prev_hash,
        }
    )


def _chain_hash(
    index: int, decision_id: str, stage: str, logged_at_iso: str, payload_json: str, prev_hash: str
) -> str:
    # Same bytes as entry_hash (sorted keys, compact), built from the payload's canonical text so
    # the payload is serialised once per entry. tests/state pin the two to each other.
    text = '{"decision_id":%s,"index":%d,"logged_at":%s,"payload":%s,"prev_hash":%s,"stage":%s}' % (
        _dumps_str(decision_id),
        index,
        _dumps_str(logged_at_iso),
        payload_json,
        _dumps_str(prev_hash),
        _dumps_str(stage),
    )
    return sha256(text.encode("utf-8")).hexdigest()


class DecisionLog:
    """Appends entries to the chain, buffering them until ``flush`` writes them in one go.

    Index and hashes are given at ``append`` from this writer's view of the head; if another
    writer has taken those indices by the time of ``flush``, the buffered entries are re-chained
    on top of the database's head (same logged_at and payload) and written there.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._buffer_logged_at_iso: list[str] = []  # what _chain_hash needs to re-chain a row
        self._insert_sql, self._to_params = _bulk_insert(engine)
        self._bind_logged_at = _COLUMNS.logged_at.type.bind_processor(engine.dialect)
        self._next_index, self._head_hash = self._database_head()

    def append(
        self, decision_id: str, stage: str, payload: dict[str, Any] | BaseModel
    ) -> DecisionLogEntry:
        """Chain one entry now (index, prev_hash, hash) and buffer it for the next flush."""
        plain = to_jsonable(payload)
        if not isinstance(plain, dict):
            raise TypeError(f"a log payload must be a dict or a model, not {type(plain).__name__}")
        payload_json = canonical_bytes(plain).decode("utf-8")
        stage = str(stage)
        logged_at = as_utc(self._clock())
        logged_at_iso = logged_at.isoformat()
        with self._lock:
            index, prev_hash = self._next_index, self._head_hash
            digest = _chain_hash(index, decision_id, stage, logged_at_iso, payload_json, prev_hash)
            # Rows are kept in the driver's own form, so flush is one plain executemany.
            stored_at = self._bind_logged_at(logged_at) if self._bind_logged_at else logged_at
            self._buffer.append(
                (index, decision_id, stage, stored_at, payload_json, prev_hash, digest)
            )
            self._buffer_logged_at_iso.append(logged_at_iso)
            self._next_index, self._head_hash = index + 1, digest
        # Built from values made here (no re-parse, no re-validation): append is on the hot path.
        return DecisionLogEntry.model_construct(
            index=index,
            decision_id=decision_id,
            stage=stage,
            logged_at=logged_at,
            payload=plain,
            prev_hash=prev_hash,
            hash=digest,
        )

    def flush(self) -> None:
        """Write every buffered entry in one transaction; on failure they stay buffered.

        When another writer has taken the buffered indices, the entries are re-chained on top
        of the database's head and written again, up to a bounded number of attempts.
        """
        with self._lock:
            if not self._buffer:
                return
            for attempt in range(1, _FLUSH_ATTEMPTS + 1):
                try:
                    with self._engine.begin() as conn:
                        conn.exec_driver_sql(self._insert_sql, self._to_params(self._buffer))
                except IntegrityError as exc:
                    first = self._buffer[0][0]
                    if not self._rechain_on_database_head():
                        raise AuditError(
                            f"decision log: entry {first} could not be written, and no other "
                            f"writer took its place: {exc.orig}"
                        ) from exc
                    if attempt < _FLUSH_ATTEMPTS:
                        time.sleep(random.uniform(0, 0.002 * attempt))  # let the other writer by
                    continue
                self._buffer, self._buffer_logged_at_iso = [], []
                return
            raise AuditError(
                f"decision log: {len(self._buffer)} entries not written after {_FLUSH_ATTEMPTS} "
                "attempts: other writers kept taking the next index of the chain"
            )

    def _rechain_on_database_head(self) -> bool:
        """Give the buffered entries new places after the database's head; False if unmoved."""
        next_index, prev_hash = self._database_head()
        first = self._buffer[0]
        if next_index == first[0] and prev_hash == first[5]:
            return False
        rechained = []
        for (_, decision_id, stage, stored_at, payload_json, _, _), logged_at_iso in zip(
            self._buffer, self._buffer_logged_at_iso
        ):
            digest = _chain_hash(
                next_index, decision_id, stage, logged_at_iso, payload_json, prev_hash
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
        self.flush()
        stmt = select(_TABLE).order_by(_COLUMNS.index)
        if decision_id is not None:
            stmt = stmt.where(_COLUMNS.decision_id == decision_id)
        with self._engine.connect() as conn:
            return [_entry_from_row(row) for row in conn.execute(stmt)]

    def close(self) -> None:
        """Flush what is buffered."""
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()


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


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found: ``count`` rows read, the last row's hash, the first break."""

    ok: bool
    count: int
    head_hash: str
    first_bad_index: int | None = None
    problem: str | None = None

    def raise_for_problem(self) -> None:
        """Raise AuditError naming the first break, if there is one."""
        if not self.ok:
            raise AuditError(f"decision log does not verify: {self.problem}")


def verify(
    engine: Engine, *, expected_head_hash: str | None = None, chunk_size: int = 2000
) -> VerifyResult:
    """Walk the whole log in index order and report the first entry that does not fit.

    With ``expected_head_hash`` (kept outside the database) entries removed from or added to
    the end are caught too.
    """
    count, head, prev_index, bad, problem = 0, GENESIS_HASH, -1, None, None
    head_seen_at = -1 if expected_head_hash == GENESIS_HASH else None
    for row in _stream_rows(engine, chunk_size):
        count += 1
        if bad is None:
            bad, problem = _check_row(row, prev_index, head)
        if head_seen_at is None and row.hash == expected_head_hash:
            head_seen_at = row.index
        head, prev_index = row.hash, row.index
    if bad is None and expected_head_hash is not None and head != expected_head_hash:
        bad, problem = _tail_problem(count, head, expected_head_hash, head_seen_at)
    return VerifyResult(bad is None, count, head, bad, problem)


def _tail_problem(
    count: int, head: str, expected_head_hash: str, head_seen_at: int | None
) -> tuple[int, str]:
    if head_seen_at is not None:
        bad = head_seen_at + 1
        head_entry = f"entry {head_seen_at}" if head_seen_at >= 0 else "the genesis hash"
        return bad, f"entry {bad}: added after the expected head ({head_entry})"
    expected = f"the expected head {expected_head_hash[:16]}…"
    if count == 0:
        return 0, f"the log is empty, not ending at {expected}"
    return count, (
        f"the log ends at entry {count - 1} with hash {head[:16]}…, not {expected}: "
        "entries at the end are missing or were rewritten"
    )


def _stream_rows(engine: Engine, chunk_size: int) -> Iterator[Any]:
    stmt = select(
        _COLUMNS.index,
        _COLUMNS.decision_id,
        _COLUMNS.stage,
        type_coerce(_COLUMNS.logged_at, String).label("logged_at"),
        _COLUMNS.payload_json,
        _COLUMNS.prev_hash,
        _COLUMNS.hash,
    ).order_by(_COLUMNS.index)
    with engine.connect() as conn:
        yield from conn.execution_options(yield_per=chunk_size).execute(stmt)


def _check_row(row: Any, prev_index: int, prev_hash: str) -> tuple[int | None, str | None]:
    index, expected = row.index, prev_index + 1
    if index < expected:
        return index, f"entry {index} appears again after entry {prev_index}"
    if index > expected:
        gap = f"entry {expected}" if index == expected + 1 else f"entries {expected}..{index - 1}"
        after = f"after {prev_index}" if prev_index >= 0 else "first"
        return expected, f"{gap} missing (found {index} {after})"
    contents_problem = _contents_problem(row)
    if contents_problem is not None:
        return index, f"entry {index}: {contents_problem}"
    if row.prev_hash != prev_hash:
        previous = f"entry {prev_index}" if index > 0 else "the genesis hash"
        return index, f"entry {index}: prev_hash does not match {previous}"
    return None, None


def _contents_problem(row: Any) -> str | None:
    try:
        payload = json.loads(row.payload_json)
    except (TypeError, ValueError):
        return "payload is not valid JSON"
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    try:
        canonical = canonical_bytes(payload).decode("utf-8")
    except (TypeError, ValueError):
        return "payload is not canonical JSON"
    if canonical != row.payload_json:
        return "payload is not canonical JSON"
    try:
        logged_at_iso = as_utc(row.logged_at).isoformat()
    except (TypeError, ValueError):
        return f"logged_at {row.logged_at!r} is not a timestamp"
    try:
        digest = _chain_hash(
            row.index, row.decision_id, row.stage, logged_at_iso, row.payload_json, row.prev_hash
        )
    except (TypeError, ValueError):
        return "fields have the wrong types"
    if digest != row.hash:
        return "hash does not match its contents"
    return None

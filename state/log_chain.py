"""The decision log's hash chain: what an entry's hash covers, and walking a log to check it.

An entry's hash is the SHA-256 of the canonical JSON of its six fields (decision_id, index,
logged_at as ISO 8601 UTC, payload, prev_hash, stage); prev_hash is the previous entry's hash,
GENESIS_HASH for entry 0. ``ChainWalk`` checks rows one at a time in index order, wherever they
come from (the database, an export file), so every check of a chain is this one. This module
only reads: it never writes a row or a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, String, select, type_coerce

from core.canonical import canonical_bytes, sha256_hex
from core.errors import AuditError
from core.models import GENESIS_HASH
from state.tables import LogEntryRow, as_utc

_COLUMNS = LogEntryRow.__table__.c
_json_string = orjson.dumps  # for a str: the same bytes as json.dumps(ensure_ascii=False)
_ENTRY_TEXT = (
    b'{"decision_id":%b,"index":%d,"logged_at":%b,"payload":%b,"prev_hash":%b,"stage":%b}'
)


class LogRow(NamedTuple):
    """One entry as stored: logged_at as text (ISO 8601, naive means UTC), payload as JSON text."""

    index: int
    decision_id: str
    stage: str
    logged_at: str
    payload_json: str
    prev_hash: str
    hash: str


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


def chain_hash(
    index: int,
    decision_id: str,
    stage: str,
    logged_at_iso: str,
    payload_json: bytes,
    prev_hash: str,
) -> str:
    """``entry_hash`` from the payload's canonical bytes, so a payload is serialised once."""
    # Same bytes as entry_hash's (sorted keys, compact); tests/state pin the two to each other.
    text = _ENTRY_TEXT % (
        _json_string(decision_id),
        index,
        _json_string(logged_at_iso),
        payload_json,
        _json_string(prev_hash),
        _json_string(stage),
    )
    return sha256(text).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """What a walk found: ``count`` rows read, the last row's hash, the first break."""

    ok: bool
    count: int
    head_hash: str
    first_bad_index: int | None = None
    problem: str | None = None

    def raise_for_problem(self) -> None:
        """Raise AuditError naming the first break, if there is one."""
        if not self.ok:
            raise AuditError(f"decision log does not verify: {self.problem}")


class ChainWalk:
    """Checks rows fed in index order; remembers the first that does not fit the chain.

    With ``expected_head_hash`` (kept outside the log) entries removed from or added to the end
    are caught too, when ``result`` is asked for.
    """

    def __init__(self, *, expected_head_hash: str | None = None) -> None:
        self.expected_head_hash = expected_head_hash
        self.count, self.head_hash, self._prev_index = 0, GENESIS_HASH, -1
        self.first_bad_index: int | None = None
        self.problem: str | None = None
        self._head_seen_at = -1 if expected_head_hash == GENESIS_HASH else None

    def add(self, row: Any) -> None:
        """Check one row (anything with LogRow's attributes) against the chain so far."""
        self.count += 1
        if self.first_bad_index is None:
            self.first_bad_index, self.problem = _check_row(row, self._prev_index, self.head_hash)
        if self._head_seen_at is None and row.hash == self.expected_head_hash:
            self._head_seen_at = row.index
        self.head_hash, self._prev_index = row.hash, row.index

    def fail(self, index: int, problem: str) -> None:
        """Record a break found outside the rows (a line of a file that is not a row)."""
        if self.first_bad_index is None:
            self.first_bad_index, self.problem = index, problem

    @property
    def next_index(self) -> int:
        """The index the next row should have."""
        return self._prev_index + 1

    def result(self) -> VerifyResult:
        """The verdict over every row added, the expected head included."""
        bad, problem = self.first_bad_index, self.problem
        expected = self.expected_head_hash
        if bad is None and expected is not None and self.head_hash != expected:
            bad, problem = _tail_problem(self.count, self.head_hash, expected, self._head_seen_at)
        return VerifyResult(bad is None, self.count, self.head_hash, bad, problem)


def verify(
    engine: Engine, *, expected_head_hash: str | None = None, chunk_size: int = 2000
) -> VerifyResult:
    """Walk the whole log in index order and report the first entry that does not fit.

    With ``expected_head_hash`` (kept outside the database) entries removed from or added to
    the end are caught too.
    """
    return walk(stored_rows(engine, chunk_size), expected_head_hash=expected_head_hash)


def walk(rows: Iterable[Any], *, expected_head_hash: str | None = None) -> VerifyResult:
    """``verify`` over any rows in index order."""
    chain = ChainWalk(expected_head_hash=expected_head_hash)
    for row in rows:
        chain.add(row)
    return chain.result()


def stored_rows(engine: Engine, chunk_size: int = 2000) -> Iterator[Any]:
    """Every stored row in index order, logged_at as the text the database holds."""
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
    text = row.payload_json
    if not isinstance(text, str):
        return "payload is not text"
    stored = text.encode("utf-8")
    payload_problem = _payload_problem(text, stored)
    if payload_problem is not None:
        return payload_problem
    try:
        logged_at_iso = as_utc(row.logged_at).isoformat()
    except (TypeError, ValueError):
        return f"logged_at {row.logged_at!r} is not a timestamp"
    try:
        digest = chain_hash(
            row.index, row.decision_id, row.stage, logged_at_iso, stored, row.prev_hash
        )
    except (TypeError, ValueError):
        return "fields have the wrong types"
    if digest != row.hash:
        return "hash does not match its contents"
    return None


def _payload_problem(text: str, stored: bytes) -> str | None:
    """Why the stored payload text is not the canonical JSON of an object, or None."""
    if _canonical_at_a_glance(stored):
        return None
    # The reference parser decides every other case, so orjson's parsing (which turns integers
    # beyond 64 bits into floats) can never make a canonical payload look tampered with.
    try:
        payload = json.loads(text)
    except ValueError:
        return "payload is not valid JSON"
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    try:
        canonical = canonical_bytes(payload)
    except (TypeError, ValueError):
        return "payload is not canonical JSON"
    if canonical != stored:
        return "payload is not canonical JSON"
    return None


def _canonical_at_a_glance(stored: bytes) -> bool:
    """True when orjson parses ``stored`` to an object the canonical encoder writes back as is."""
    try:
        payload = orjson.loads(stored)
        return isinstance(payload, dict) and canonical_bytes(payload) == stored
    except (TypeError, ValueError):
        return False

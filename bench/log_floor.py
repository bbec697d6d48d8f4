"""The decision log's floor in a backtest: what its rows cost with nothing else around them.

A run's log rows are read back from its database, then, with nothing else running, each row's
chain hash is made again from the payload bytes it stored (``state.log_chain.chain_hash``):
that alone is the hashing floor. The storing floor does the same and inserts the rows with raw
sqlite3 ``executemany`` into a fresh file made by ``state.db.make_engine`` (the same schema,
indexes and pragmas), ``BATCH`` rows per commit. No
payload is encoded, no model built, no timestamp taken: the real log does all of that and more,
so it can only cost more than this. Design point 11 (every stage of a decision is appended to
the log) fixes how many rows a decision makes; this measures what those rows cost at least.

``bench/backtest.py`` prints it beside what the issue's targets allow per decision.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from state.db import make_engine
from state.log_chain import chain_hash

BATCH = 1000
"""Rows per commit: a backtest commits at most every 0.1 s, a few hundred to thousands of rows."""
_COLUMNS = '"index", decision_id, stage, logged_at, payload_json, prev_hash, hash'


def read_rows(db_path: Path) -> tuple[list[tuple], int]:
    """(every log row of the run at ``db_path``, in index order; its number of decisions)."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM decision_log ORDER BY \"index\"").fetchall()
        (decisions,) = conn.execute(
            "SELECT count(*) FROM decision_log WHERE stage = 'ProposalCreated'").fetchone()
    return rows, decisions


class Floor(NamedTuple):
    """Fastest seconds over the repeats: chaining the rows' hashes alone, and chaining and
    inserting them."""

    hashing_s: float
    storing_s: float


def floor(rows: list[tuple], *, repeats: int = 3) -> Floor:
    """The least ``rows`` cost: chained alone, then chained and inserted (see the module)."""
    hashing = min(_timed(lambda: _chain(rows)) for _ in range(repeats))
    storing = min(_chain_and_insert(rows) for _ in range(repeats))
    return Floor(hashing, storing)


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _chain(rows: list[tuple]) -> list[tuple]:
    """``rows`` with their hashes made again from the stored payload bytes, checked against the
    run's: if they differ, this is not measuring the run's chain."""
    head = rows[0][5] if rows else ""
    chained = []
    for index, decision_id, stage, logged_at, payload_json, _, _ in rows:
        logged_at_iso = f"{logged_at[:10]}T{logged_at[11:]}+00:00"  # the text it was hashed as
        digest = chain_hash(index, decision_id, stage, logged_at_iso, payload_json.encode(), head)
        chained.append((index, decision_id, stage, logged_at, payload_json, head, digest))
        head = digest
    if rows and head != rows[-1][6]:
        raise RuntimeError(f"the re-made chain ends at {head}, the run's at {rows[-1][6]}")
    return chained


def _chain_and_insert(rows: list[tuple]) -> float:
    """Seconds to chain ``rows`` and insert them into a fresh database (made before timing)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "floor.db"
        make_engine(f"sqlite:///{path}").dispose()  # the tables and WAL, as a run has them
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            insert = f"INSERT INTO decision_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            started = time.perf_counter()
            chained = _chain(rows)
            for start in range(0, len(chained), BATCH):
                conn.execute("BEGIN")
                conn.executemany(insert, chained[start:start + BATCH])
                conn.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            conn.close()

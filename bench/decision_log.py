"""Decision-log throughput: our hash-chained writer against raw sqlite3 executemany.

Both write the same rows (same columns, same payload bytes) to a fresh SQLite file on the same
disk, in one transaction per batch. Our side also hashes each entry (SHA-256 of canonical JSON);
raw sqlite3 only inserts prepared tuples. Then chain verification is timed.

    python bench/decision_log.py [--entries 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from state.db import make_engine
from state.decision_log import DecisionLog, verify

BATCH = 1000  # entries per commit, as a backtest's governor flushes per tick


def payload(i: int) -> dict:
    return {"proposal": {"asset": "ETH", "notional_usd": 1000.0 + i, "tick": i},
            "fired": [{"rule": "tiers", "effect": "tier", "reason": "auto"}]}


def ours(path: Path, n: int) -> float:
    engine = make_engine(f"sqlite:///{path}")
    log = DecisionLog(engine)
    started = time.perf_counter()
    for i in range(n):
        log.append(f"d-{i // 6}", "ProposalCreated", payload(i))
        if (i + 1) % BATCH == 0:
            log.flush()
    log.flush()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def raw(path: Path, rows: list[tuple]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE log (idx INTEGER PRIMARY KEY, decision_id TEXT, stage TEXT, "
                 "logged_at TEXT, payload_json TEXT, prev_hash TEXT, hash TEXT)")
    conn.execute("CREATE INDEX ix_log_decision ON log (decision_id)")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with conn:
            conn.executemany("INSERT INTO log VALUES (?,?,?,?,?,?,?)", rows[start:start + BATCH])
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def rows_like_ours(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute('SELECT "index", decision_id, stage, logged_at, payload_json, prev_hash, '
                        'hash FROM decision_log ORDER BY "index"').fetchall()
    conn.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.entries
    ours_s, raw_s, verify_s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            mine, theirs = Path(tmp) / f"ours{r}.db", Path(tmp) / f"raw{r}.db"
            ours_s.append(ours(mine, n))
            raw_s.append(raw(theirs, rows_like_ours(mine)))
            engine = make_engine(f"sqlite:///{mine}")
            started = time.perf_counter()
            result = verify(engine)
            verify_s.append(time.perf_counter() - started)
            assert result.ok and result.count == n, result
            engine.dispose()
    med = statistics.median
    ours_rate, raw_rate, verify_rate = n / med(ours_s), n / med(raw_s), n / med(verify_s)
    print(f"decision log, {n:,} entries, {BATCH} per commit, median of {args.repeats}")
    print(f"{'':24}{'entries/s':>12}")
    print(f"{'quorum DecisionLog':24}{ours_rate:>12,.0f}")
    print(f"{'raw sqlite3 executemany':24}{raw_rate:>12,.0f}")
    print(f"{'ratio (ours / raw)':24}{ours_rate / raw_rate:>12.2f}")
    print(f"{'verify (chain walk)':24}{verify_rate:>12,.0f}")


if __name__ == "__main__":
    main()

"""Decision-log throughput: our hash-chained writer against raw sqlite3 executemany.

Both write the same rows (same columns, same payload bytes) to a fresh SQLite file on the same
disk, in one transaction per batch; payloads and ids are built before either clock starts. Our
side also encodes each payload canonically and hashes each entry (SHA-256 over the chain); raw
sqlite3 only inserts the finished tuples. Then chain verification is timed.

Last, the log's share of a real backtest: the whole pipeline (local runtime, offline reviewer,
simulated approvals) over a candle file, with the time spent inside the decision log's append,
flush and close counted apart from the rest; once committing at every flush (the governor
flushes every tick), once with commits batched to at most one per ``BATCHED_S``.

    python bench/decision_log.py [--entries 50000] [--repeats 5] [--backtest FILE | --no-backtest]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from core.logging import configure
from state.db import make_engine
from state.decision_log import DecisionLog, verify

BATCH = 1000  # entries per commit
BATCHED_S = 0.1  # min_commit_interval_s of the batched backtest
DEFAULT_BACKTEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ETH_BTC-5m.csv"


def payload(i: int) -> dict:
    return {"proposal": {"asset": "ETH", "notional_usd": 1000.0 + i, "tick": i},
            "fired": [{"rule": "tiers", "effect": "tier", "reason": "auto"}]}


def ours(path: Path, items: list[tuple[str, dict]]) -> float:
    engine = make_engine(f"sqlite:///{path}")
    log = DecisionLog(engine)
    started = time.perf_counter()
    for i, (decision_id, body) in enumerate(items, 1):
        log.append(decision_id, "ProposalCreated", body)
        if i % BATCH == 0:
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


def throughput(n: int, repeats: int) -> None:
    ours_s, raw_s, verify_s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            items = [(f"d-{i // 6}", payload(i)) for i in range(n)]
            mine, theirs = Path(tmp) / f"ours{r}.db", Path(tmp) / f"raw{r}.db"
            ours_s.append(ours(mine, items))
            raw_s.append(raw(theirs, rows_like_ours(mine)))
            engine = make_engine(f"sqlite:///{mine}")
            started = time.perf_counter()
            result = verify(engine)
            verify_s.append(time.perf_counter() - started)
            assert result.ok and result.count == n, result
            engine.dispose()
    med = statistics.median
    ours_rate, raw_rate, verify_rate = n / med(ours_s), n / med(raw_s), n / med(verify_s)
    print(f"decision log, {n:,} entries, {BATCH} per commit, median of {repeats}")
    print(f"{'':32}{'entries/s':>12}")
    print(f"{'quorum DecisionLog':32}{ours_rate:>12,.0f}")
    print(f"{'raw sqlite3 executemany':32}{raw_rate:>12,.0f}")
    print(f"{'ratio (ours / raw)':32}{ours_rate / raw_rate:>12.2f}")
    print(f"{'verify (chain walk)':32}{verify_rate:>12,.0f}")


class _Stopwatch:
    """Adds up the time spent inside the wrapped calls."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, call):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


def backtest_once(data_file: Path, db_path: Path, *, commit_interval_s: float) -> tuple:
    """(wall s of the ticks, s inside the log, entries, ticks) of one backtest of ``data_file``."""
    from core.config import Settings
    from core.feeds.files import load_files
    from core.session import Session

    settings = Settings.load(None)
    settings = settings.model_copy(update={
        "data": settings.data.model_copy(update={"source": "files", "files": (data_file,)}),
        "run": settings.run.model_copy(update={"cash_usd": 100.0}),  # prices are in BTC
    })
    market = load_files(settings.data.files)
    session = Session(settings, data=market, db_url=f"sqlite:///{db_path}", runtime="local",
                      gate="approve")
    log = DecisionLog(session.engine, min_commit_interval_s=commit_interval_s)
    session.decision_log = session.governor.log = log  # the same writer, batched or not
    watch = _Stopwatch()
    log.append, log.flush = watch.wrap(log.append), watch.wrap(log.flush)
    started = time.perf_counter()
    session.governor.run(range(market.n_bars))
    session.governor.end_run()
    wall = time.perf_counter() - started
    summary = session.finish()  # its flush and close (what batching still held) are counted too
    in_log = watch.seconds
    engine = make_engine(f"sqlite:///{db_path}")
    assert verify(engine).count == summary.log_entries
    engine.dispose()
    return wall, in_log, summary.log_entries, summary.ticks


def backtest_share(data_file: Path, repeats: int) -> None:
    modes = {"commit per flush": 0.0, f"batched ({BATCHED_S:g} s)": BATCHED_S}
    rows: dict[str, list[float]] = {name: [] for name in modes}
    walls: dict[str, list[float]] = {name: [] for name in modes}
    in_log: dict[str, list[float]] = {name: [] for name in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for name, interval in modes.items():
                wall, seconds, entries, ticks = backtest_once(
                    data_file, Path(tmp) / f"bt{r}-{interval}.db", commit_interval_s=interval)
                walls[name].append(wall)
                in_log[name].append(seconds)
                rows[name].append(seconds / (wall - seconds))
    med = statistics.median
    print(f"\nbacktest of {data_file.name}: {ticks:,} ticks (a flush each), {entries:,} log entries, "
          f"median of {repeats}")
    print(f"{'':32}" + "".join(f"{name:>20}" for name in modes))
    print(f"{'backtest wall time, s':32}" + "".join(f"{med(walls[n]):>20.3f}" for n in modes))
    print(f"{'  of it in the decision log, s':32}" + "".join(f"{med(in_log[n]):>20.3f}" for n in modes))
    print(f"{'log adds to the rest, %':32}" + "".join(f"{100 * med(rows[n]):>20.1f}" for n in modes))


def main() -> None:
    configure(level="warning")  # the backtest's info events would drown the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backtest", type=Path, default=DEFAULT_BACKTEST,
                        help="candle file for the backtest share (default: shared ETH_BTC-5m.csv)")
    parser.add_argument("--no-backtest", action="store_true", help="only the throughput table")
    args = parser.parse_args()
    throughput(args.entries, args.repeats)
    if not args.no_backtest:
        backtest_share(args.backtest, args.repeats)


if __name__ == "__main__":
    main()

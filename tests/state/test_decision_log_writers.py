"""Several writers on one decision log: a run and a backtest on the same database file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import AuditError
from state.db import make_engine
from state.decision_log import DecisionLog, verify
from tests.state.support import FakeClock

# Regression: flush raised AuditError "entry N already exists" when another writer had taken the
# index, so `quorum backtest --db X` beside `quorum run --db X` killed the run and lost its buffer.


def test_two_writers_on_one_database_interleave_and_the_chain_verifies(engine, db_path):
    other_engine = make_engine(f"sqlite:///{db_path}")
    first, second = DecisionLog(engine), DecisionLog(other_engine)
    rounds = 60
    for n in range(rounds):
        for writer, name in ((first, "a"), (second, "b")):
            writer.append(f"{name}-{n}", "ProposalCreated", {"writer": name, "n": n})
            writer.append(f"{name}-{n}", "PolicyAllowed", {"writer": name, "n": n})
            writer.flush()
    result = verify(engine)
    assert result.ok, result.problem
    assert result.count == 4 * rounds
    assert second.head() == (result.count, result.head_hash)
    assert first.head() == (result.count - 2, verify_head_at(engine, result.count - 3))
    entries = first.entries()
    assert [e.decision_id for e in entries[:8]] == ["a-0", "a-0", "b-0", "b-0",
                                                    "a-1", "a-1", "b-1", "b-1"]
    for name in ("a", "b"):
        mine = [e.payload["n"] for e in entries if e.payload["writer"] == name]
        assert mine == sorted(mine) and len(mine) == 2 * rounds
    other_engine.dispose()


def verify_head_at(engine, index: int) -> str:
    return next(e.hash for e in DecisionLog(engine).entries() if e.index == index)


def test_buffered_entries_are_rechained_on_top_of_another_writers_flush(engine):
    clock = FakeClock()
    first, second = DecisionLog(engine, clock=clock), DecisionLog(engine, clock=clock)
    mine, positions = [], []
    for n in range(3):
        clock.advance(1)
        positions.append(first.append(f"d-{n}", "ProposalCreated", {"n": n}).index)
        mine.append((f"d-{n}", clock.now, {"n": n}))
    for n in range(2):
        second.append(f"other-{n}", "ProposalCreated", {"n": n})
    second.flush()
    first.flush()
    result = verify(engine)
    assert result.ok and result.count == 5
    assert first.head() == (5, result.head_hash)
    stored = first.entries()[2:]
    assert positions == [0, 1, 2] and [e.index for e in stored] == [2, 3, 4]
    assert [(e.decision_id, e.logged_at, e.payload) for e in stored] == mine
    assert stored[0].prev_hash == first.entries()[1].hash
    after = first.append("d-3", "ProposalCreated", {"n": 3})
    assert (after.index, after.prev_hash) == (5, result.head_hash)


def test_a_write_refused_for_another_reason_names_the_problem_and_keeps_the_buffer(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON decision_log "
            "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
    log = DecisionLog(engine)
    log.append("d-1", "ProposalCreated", {})
    with pytest.raises(AuditError, match="entry 0 could not be written"):
        log.flush()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse")
    log.flush()
    assert verify(engine).count == 1


def test_a_batch_is_written_whole_or_not_at_all(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TRIGGER refuse_second BEFORE INSERT ON decision_log WHEN NEW."index" = 1 '
            "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
    log = DecisionLog(engine)
    for n in range(3):
        log.append(f"d-{n}", "ProposalCreated", {"n": n})
    with pytest.raises(AuditError, match="entry 0 could not be written.*refused by a trigger"):
        log.flush()
    assert verify(engine).count == 0  # entry 0 went in, then out again with the rest
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_second")
    log.flush()
    result = verify(engine)
    assert (result.ok, result.count, result.head_hash) == (True, 3, log.head()[1])


WRITER = """
import sys, time
from pathlib import Path
from state.db import make_engine
from state.decision_log import DecisionLog

url, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
engine = make_engine(url)
log = DecisionLog(engine)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for n in range(count):
    log.append(f"{name}-{n}", "ProposalCreated", {"writer": name, "n": n})
    log.flush()
engine.dispose()
"""


def test_two_processes_writing_one_database_leave_a_chain_that_verifies(engine, db_path):
    count, go = 300, db_path.parent / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, f"sqlite:///{db_path}", name, str(count),
                          str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    try:
        for writer in writers:  # both have read the (empty) head before either writes
            assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        go.touch()
        outcomes = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    for writer, (_, stderr) in zip(writers, outcomes):
        assert writer.returncode == 0, stderr
    result = verify(engine)
    assert result.ok, result.problem
    assert result.count == 2 * count
    entries = DecisionLog(engine).entries()
    for name in ("a", "b"):
        written = [e.payload["n"] for e in entries if e.payload["writer"] == name]
        assert written == list(range(count))

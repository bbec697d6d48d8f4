"""The decision log: chaining across runs, and verify naming the first entry that does not fit.

Tampering is done the way an attacker would: with raw sqlite3 on the database file.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.canonical import canonical_bytes
from core.errors import AuditError
from core.models import GENESIS_HASH, Stage
from state.db import make_engine
from state.decision_log import DecisionLog, entry_hash, verify
from tests.state.support import START, FakeClock, make_order

N_ENTRIES = 50
STAGES = [Stage.PROPOSAL_CREATED, Stage.RISK_ASSESSED, Stage.POLICY_ALLOWED, Stage.ORDER_FILLED]


def fill_log(log: DecisionLog, clock: FakeClock, count: int, *, start: int = 0) -> None:
    for n in range(start, start + count):
        clock.advance(1.5)
        payload = {"n": n, "asset": "ETH", "notional_usd": 100.0 + n, "note": "größer €",
                   "tags": [n]}
        log.append(f"d-{n // 4}", STAGES[n % len(STAGES)], payload)


def build_log(path: Path, count: int = N_ENTRIES) -> str:
    """A good log of ``count`` entries in a standalone file; returns its head hash."""
    engine = make_engine(f"sqlite:///{path}")
    clock = FakeClock()
    with DecisionLog(engine, clock=clock) as log:
        fill_log(log, clock, count)
        head = log.head()[1]
    engine.dispose()
    return head


def verify_file(path: Path, *, expected_head_hash: str | None = None):
    engine = make_engine(f"sqlite:///{path}")
    try:
        return verify(engine, expected_head_hash=expected_head_hash, chunk_size=7)
    finally:
        engine.dispose()


# -- tampering with raw sqlite3 -----------------------------------------------------------------

COLS = '"index", decision_id, stage, logged_at, payload_json, prev_hash, hash'


def raw_rows(con: sqlite3.Connection) -> dict[int, tuple]:
    return {r[0]: r for r in con.execute(f'SELECT {COLS} FROM decision_log ORDER BY "index"')}


def edit_payload(con: sqlite3.Connection, i: int) -> None:
    payload = json.loads(raw_rows(con)[i][4])
    payload["notional_usd"] = payload["notional_usd"] * 10
    new = canonical_bytes(payload).decode()
    con.execute('UPDATE decision_log SET payload_json = ? WHERE "index" = ?', (new, i))


def edit_payload_and_rehash(con: sqlite3.Connection, i: int) -> None:
    edit_payload(con, i)
    _, decision_id, stage, logged_at, payload_json, prev, _ = raw_rows(con)[i]
    digest = entry_hash(i, decision_id, stage, datetime.fromisoformat(logged_at),
                        json.loads(payload_json), prev)
    con.execute('UPDATE decision_log SET hash = ? WHERE "index" = ?', (digest, i))


def delete_entry(con: sqlite3.Connection, i: int) -> None:
    con.execute('DELETE FROM decision_log WHERE "index" = ?', (i,))


def insert_entry(con: sqlite3.Connection, at: int, *, well_forged: bool) -> None:
    """Shift entries at ``at`` and after up by one and put a forged entry at ``at``."""
    prev = raw_rows(con)[at - 1][6] if at > 0 else GENESIS_HASH
    con.execute('UPDATE decision_log SET "index" = "index" + 100000 WHERE "index" >= ?', (at,))
    con.execute('UPDATE decision_log SET "index" = "index" - 99999 WHERE "index" >= 100000')
    logged_at = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    payload = {"forged": True}
    digest = entry_hash(at, "d-forged", "OrderFilled", logged_at, payload, prev)
    if not well_forged:
        digest = "f" * 64
    con.execute(
        f"INSERT INTO decision_log ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, "d-forged", "OrderFilled", "2024-03-01 13:00:00.000000",
         canonical_bytes(payload).decode(), prev, digest),
    )


def swap_contents(con: sqlite3.Connection, i: int, j: int) -> None:
    rows = raw_rows(con)
    for target, source in ((i, rows[j]), (j, rows[i])):
        con.execute(
            "UPDATE decision_log SET decision_id=?, stage=?, logged_at=?, payload_json=?, "
            'prev_hash=?, hash=? WHERE "index" = ?',
            (*source[1:], target),
        )


def swap_indices(con: sqlite3.Connection, i: int, j: int) -> None:
    con.execute('UPDATE decision_log SET "index" = -1 WHERE "index" = ?', (i,))
    con.execute('UPDATE decision_log SET "index" = ? WHERE "index" = ?', (i, j))
    con.execute('UPDATE decision_log SET "index" = ? WHERE "index" = -1', (j,))


def tamper(path: Path, mutate, *args, **kwargs) -> None:
    con = sqlite3.connect(path)
    with con:
        mutate(con, *args, **kwargs)
    con.close()


# -- behaviour ----------------------------------------------------------------------------------


def test_append_assigns_index_and_chains_hashes(engine):
    log = DecisionLog(engine, clock=FakeClock())
    first = log.append("d-1", Stage.PROPOSAL_CREATED, {"asset": "ETH"})
    second = log.append("d-1", Stage.RISK_ASSESSED, make_order())
    assert (first.index, second.index) == (0, 1)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert first.hash == entry_hash(0, "d-1", "ProposalCreated", START, {"asset": "ETH"},
                                    GENESIS_HASH)
    assert log.head() == (2, second.hash)
    stored = log.entries()
    assert [(e.index, e.prev_hash, e.hash) for e in stored] == [first, second]
    assert stored[1].payload == json.loads(canonical_bytes(make_order()))


def test_flush_then_reopen_continues_the_chain(engine, db_path):
    clock = FakeClock()
    with DecisionLog(engine, clock=clock) as log:
        fill_log(log, clock, 5)
        head_before = log.head()
    engine.dispose()

    reopened = make_engine(f"sqlite:///{db_path}")
    log = DecisionLog(reopened, clock=clock)
    assert log.head() == head_before
    entry = log.append("d-9", Stage.RUN_FINISHED, {"ok": True})
    assert entry.index == 5 and entry.prev_hash == head_before[1]
    log.close()
    result = verify(reopened)
    assert result.ok and result.count == 6 and result.head_hash == entry.hash
    reopened.dispose()


def test_buffered_entries_reach_the_database_only_on_flush(engine):
    log = DecisionLog(engine, clock=FakeClock())
    log.append("d-1", "ProposalCreated", {"n": 1})
    assert verify(engine).count == 0
    assert log.head()[0] == 1
    log.flush()
    assert verify(engine).count == 1


def test_batched_commits_hold_entries_until_the_interval_or_close(engine):
    log = DecisionLog(engine, clock=FakeClock(), min_commit_interval_s=3600)
    log.append("d-1", "ProposalCreated", {"n": 1})
    log.flush()  # the first commit is never held back
    assert verify(engine).count == 1
    for n in range(2, 5):
        log.append(f"d-{n}", "ProposalCreated", {"n": n})
        log.flush()  # within the interval: held in memory
    assert verify(engine).count == 1 and log.head()[0] == 4
    log.close()
    result = verify(engine)
    assert (result.ok, result.count, result.head_hash) == (True, 4, log.head()[1])


def test_entries_and_a_forced_flush_write_held_entries(engine):
    log = DecisionLog(engine, clock=FakeClock(), min_commit_interval_s=3600)
    log.append("d-1", "ProposalCreated", {"n": 1})
    log.flush()
    log.append("d-2", "ProposalCreated", {"n": 2})
    log.flush()
    assert [e.decision_id for e in log.entries()] == ["d-1", "d-2"]
    log.append("d-3", "ProposalCreated", {"n": 3})
    log.flush(force=True)
    assert verify(engine).count == 3


def test_a_negative_commit_interval_is_refused(engine):
    with pytest.raises(ValueError, match="min_commit_interval_s is -1, expected >= 0"):
        DecisionLog(engine, min_commit_interval_s=-1)


def test_entries_reads_back_what_was_appended_in_utc(engine):
    clock = FakeClock(datetime(2024, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=5))))
    log = DecisionLog(engine, clock=clock)
    appended = [log.append(f"d-{n % 2}", "ProposalCreated", {"n": n}) for n in range(4)]
    entries = log.entries()
    assert [(e.index, e.prev_hash, e.hash) for e in entries] == appended
    assert [(e.decision_id, e.stage, e.payload) for e in entries] == [
        (f"d-{n % 2}", "ProposalCreated", {"n": n}) for n in range(4)]
    assert [e.index for e in log.entries("d-1")] == [1, 3]
    assert entries[0].logged_at == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    assert entries[0].logged_at.tzinfo == UTC
    assert verify(engine).ok


def test_the_default_clock_logs_the_current_utc_time(engine):
    log = DecisionLog(engine)
    before = datetime.now(UTC)
    log.append("d-1", "ProposalCreated", {"n": 1})
    after = datetime.now(UTC)
    stored = log.entries()[0]
    assert before - timedelta(microseconds=1) <= stored.logged_at <= after
    assert stored.logged_at.tzinfo == UTC
    assert verify(engine).ok


def test_non_dict_payload_is_refused(engine):
    with pytest.raises(TypeError, match="dict or a model"):
        DecisionLog(engine).append("d-1", "ProposalCreated", [1, 2])


def test_empty_log_verifies_with_genesis_head(engine):
    assert verify(engine) == verify(engine, expected_head_hash=GENESIS_HASH)
    result = verify(engine)
    assert (result.ok, result.count, result.head_hash) == (True, 0, GENESIS_HASH)


def test_good_log_verifies(tmp_path):
    head = build_log(tmp_path / "q.db")
    result = verify_file(tmp_path / "q.db", expected_head_hash=head)
    assert result.ok and result.count == N_ENTRIES and result.head_hash == head
    assert result.first_bad_index is None and result.problem is None
    result.raise_for_problem()


def test_edited_payload_is_caught_at_its_index(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, edit_payload, 17)
    result = verify_file(path)
    assert not result.ok and result.first_bad_index == 17
    assert result.problem == "entry 17: hash does not match its contents"
    with pytest.raises(AuditError, match="entry 17: hash does not match"):
        result.raise_for_problem()


def test_non_canonical_payload_is_caught(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, lambda con: con.execute(
        """UPDATE decision_log SET payload_json = replace(payload_json, ',', ', ')
           WHERE "index" = 3"""))
    result = verify_file(path)
    assert (result.first_bad_index, result.problem) == (3, "entry 3: payload is not canonical JSON")


def test_rehashed_edit_is_caught_at_the_next_entry(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, edit_payload_and_rehash, 17)
    result = verify_file(path)
    assert result.first_bad_index == 18
    assert result.problem == "entry 18: prev_hash does not match entry 17"


def test_deleted_entry_is_caught_at_its_index(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, delete_entry, 17)
    result = verify_file(path)
    assert (result.ok, result.count, result.first_bad_index) == (False, N_ENTRIES - 1, 17)
    assert result.problem == "entry 17 missing (found 18 after 16)"


def test_deleted_last_entry_is_caught_with_the_expected_head(tmp_path):
    path = tmp_path / "q.db"
    head = build_log(path)
    tamper(path, delete_entry, N_ENTRIES - 1)
    assert verify_file(path).ok  # without the head kept outside, a truncation looks fine
    result = verify_file(path, expected_head_hash=head)
    assert result.first_bad_index == N_ENTRIES - 1
    assert "not the expected head" in result.problem


def test_inserted_entry_is_caught_at_its_index(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, insert_entry, 17, well_forged=False)
    result = verify_file(path)
    assert (result.count, result.first_bad_index) == (N_ENTRIES + 1, 17)
    assert result.problem == "entry 17: hash does not match its contents"


def test_well_forged_inserted_entry_is_caught_at_the_shifted_one(tmp_path):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, insert_entry, 17, well_forged=True)
    result = verify_file(path)
    assert result.first_bad_index == 18
    assert result.problem == "entry 18: hash does not match its contents"


def test_appended_forgery_is_caught_with_the_expected_head(tmp_path):
    path = tmp_path / "q.db"
    head = build_log(path)
    tamper(path, insert_entry, N_ENTRIES, well_forged=True)
    result = verify_file(path, expected_head_hash=head)
    assert result.first_bad_index == N_ENTRIES
    assert result.problem == f"entry {N_ENTRIES}: added after the expected head (entry 49)"


@pytest.mark.parametrize("swap", [swap_contents, swap_indices])
def test_reordered_pair_is_caught_at_the_first_of_the_two(tmp_path, swap):
    path = tmp_path / "q.db"
    build_log(path)
    tamper(path, swap, 17, 18)
    result = verify_file(path)
    assert result.first_bad_index == 17
    assert result.problem == "entry 17: hash does not match its contents"


def test_first_entry_deleted_is_named(tmp_path):
    path = tmp_path / "q.db"
    build_log(path, count=3)
    tamper(path, delete_entry, 0)
    assert verify_file(path).problem == "entry 0 missing (found 1 first)"


def test_several_missing_entries_are_named_as_a_range(tmp_path):
    path = tmp_path / "q.db"
    build_log(path, count=8)
    tamper(path, lambda con: con.execute('DELETE FROM decision_log WHERE "index" IN (3, 4, 5)'))
    result = verify_file(path)
    assert (result.first_bad_index, result.problem) == (3, "entries 3..5 missing (found 6 after 2)")


def test_expected_head_against_an_empty_or_unexpectedly_full_log(engine, tmp_path):
    result = verify(engine, expected_head_hash="a" * 64)
    assert (result.ok, result.first_bad_index) == (False, 0)
    assert result.problem.startswith("the log is empty")
    path = tmp_path / "q.db"
    build_log(path, count=3)
    result = verify_file(path, expected_head_hash=GENESIS_HASH)
    assert (result.first_bad_index, result.problem) == (
        0, "entry 0: added after the expected head (the genesis hash)")


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'q.db'}")
    yield engine
    engine.dispose()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decision_id=st.text(min_size=1),
    stage=st.text(min_size=1),
    payload=st.dictionaries(st.text(), json_values, max_size=5),
)
def test_appended_hash_is_entry_hash_and_verifies(shared_engine, decision_id, stage, payload):
    log = DecisionLog(shared_engine)
    appended = log.append(decision_id, stage, payload)
    stored = log.entries()[-1]
    assert (stored.index, stored.prev_hash, stored.hash) == appended
    assert (stored.decision_id, stored.stage) == (decision_id, stage)
    assert stored.payload == json.loads(canonical_bytes(payload))
    assert appended.hash == entry_hash(appended.index, decision_id, stage, stored.logged_at,
                                       payload, appended.prev_hash)
    assert verify(shared_engine).ok

"""1,000 random single mutations of a real SQLite log, each caught by verify at its index.

The log is built once. Each mutation is written and committed with raw sqlite3, the way an
attacker with the file would; the real `verify` (and once the real `quorum audit verify`)
reads the file through its own engine; then the file is put back from a pristine in-memory
copy with SQLite's backup API, ready for the next mutation.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.canonical import canonical_bytes
from state.db import make_engine
from state.decision_log import verify
from tests.state.test_decision_log import (
    N_ENTRIES,
    build_log,
    delete_entry,
    edit_payload,
    edit_payload_and_rehash,
    insert_entry,
    raw_rows,
    swap_contents,
    swap_indices,
)

LAST = N_ENTRIES - 1


class Log:
    """The log file, its head hash, an engine on it, and a way back to the pristine file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = build_log(path)
        self.engine = make_engine(f"sqlite:///{path}")
        self.con = sqlite3.connect(path)
        self.pristine = sqlite3.connect(":memory:")
        self.con.backup(self.pristine)

    def mutate(self, mutation: tuple) -> int:
        """Apply and commit one mutation; return the index verify must name."""
        with self.con:
            return apply(self.con, mutation)

    def restore(self) -> None:
        self.pristine.backup(self.con)

    def close(self) -> None:
        self.engine.dispose()
        for con in (self.con, self.pristine):
            con.close()


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Iterator[Log]:
    log = Log(tmp_path_factory.mktemp("mutations") / "q.db")
    yield log
    log.close()


def edit_field(con: sqlite3.Connection, i: int, column: str) -> None:
    new = {"decision_id": "d-forged", "stage": "ApprovalGranted",
           "logged_at": "2030-01-01 00:00:00.000001"}[column]
    con.execute(f'UPDATE decision_log SET {column} = ? WHERE "index" = ?', (new, i))


def edit_payload_text(con: sqlite3.Connection, i: int) -> None:
    """Same JSON value, different bytes: only the canonical check can see it."""
    payload = json.loads(raw_rows(con)[i][4])
    con.execute('UPDATE decision_log SET payload_json = ? WHERE "index" = ?',
                (json.dumps(payload, indent=1), i))


def add_payload_key(con: sqlite3.Connection, i: int) -> None:
    payload = {**json.loads(raw_rows(con)[i][4]), "approved_by": "mallory"}
    con.execute('UPDATE decision_log SET payload_json = ? WHERE "index" = ?',
                (canonical_bytes(payload).decode(), i))


def apply(con: sqlite3.Connection, mutation: tuple) -> int:
    kind, i, *rest = mutation
    if kind == "edit_payload":
        edit_payload(con, i)
    elif kind == "add_payload_key":
        add_payload_key(con, i)
    elif kind == "edit_payload_text":
        edit_payload_text(con, i)
    elif kind == "edit_field":
        edit_field(con, i, rest[0])
    elif kind == "rehash":
        edit_payload_and_rehash(con, i)
        return i + 1
    elif kind == "delete":
        delete_entry(con, i)
    elif kind == "insert_bogus":
        insert_entry(con, i, well_forged=False)
    elif kind == "insert_forged":
        insert_entry(con, i, well_forged=True)
        return min(i + 1, N_ENTRIES)  # at the end, the expected head names it
    elif kind == "swap_contents":
        swap_contents(con, i, rest[0])
        return min(i, rest[0])
    elif kind == "swap_indices":
        swap_indices(con, i, rest[0])
        return min(i, rest[0])
    return i


def pairs(kind: str):
    """(kind, i, j) with i != j."""
    return st.tuples(st.integers(0, LAST), st.integers(1, LAST)).map(
        lambda p: (kind, p[0], (p[0] + p[1]) % N_ENTRIES))


mutations = st.one_of(
    st.tuples(st.just("edit_payload"), st.integers(0, LAST)),
    st.tuples(st.just("add_payload_key"), st.integers(0, LAST)),
    st.tuples(st.just("edit_payload_text"), st.integers(0, LAST)),
    st.tuples(st.just("edit_field"), st.integers(0, LAST),
              st.sampled_from(["decision_id", "stage", "logged_at"])),
    st.tuples(st.just("rehash"), st.integers(0, LAST - 1)),
    st.tuples(st.just("delete"), st.integers(0, LAST)),
    st.tuples(st.just("insert_bogus"), st.integers(0, N_ENTRIES)),
    st.tuples(st.just("insert_forged"), st.integers(0, N_ENTRIES)),
    pairs("swap_contents"),
    pairs("swap_indices"),
)


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutation=mutations)
def test_any_single_mutation_is_caught_at_exactly_its_index(log, mutation):
    expected = log.mutate(mutation)
    try:
        result = verify(log.engine, expected_head_hash=log.head)
    finally:
        log.restore()
    assert not result.ok
    assert result.first_bad_index == expected, result.problem
    assert result.problem.startswith((f"entry {expected}", "the log ends at"))


def test_the_pristine_copy_verifies_between_mutations(log):
    """Guards the harness: after a mutation and a restore the log is whole again."""
    log.mutate(("delete", 7))
    log.restore()
    result = verify(log.engine, expected_head_hash=log.head)
    assert result.ok and result.count == N_ENTRIES


def test_quorum_audit_verify_names_the_mutated_entry(log):
    expected = log.mutate(("swap_contents", 31, 12))
    try:
        run = subprocess.run(
            [sys.executable, "-m", "core.cli", "audit", "verify", "--db", str(log.path),
             "--head", log.head],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        log.restore()
    assert expected == 12
    assert run.returncode == 1, run.stderr
    assert run.stdout.strip() == (
        f"FAIL {log.path}: first bad entry 12: entry 12: hash does not match its contents"
    )

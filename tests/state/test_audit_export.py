"""`export_jsonl` writes a file anyone can re-chain with hashlib and json; tampering shows.

The first test re-chains an export with nothing but the standard library, the way an outside
auditor would; the rest check `verify_export` against files edited line by line.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.canonical import canonical_bytes
from core.models import GENESIS_HASH
from state.audit_export import ENTRY_KEYS, export_jsonl, verify_export
from state.db import make_engine
from state.decision_log import DecisionLog
from tests.state.support import FakeClock
from tests.state.test_decision_log import tamper

PAYLOADS = [
    {"asset": "ETH", "notional_usd": 1000.0, "note": "größer € \"quoted\"\n"},
    {"fee": 1e-05, "big": 2**70, "size": 1e16, "none": None, "neg": -0.0},
    {"nested": {"b": [0.1, 2.5e-07, True], "a": {}}, "tags": []},
]
N = 12


def build(path: Path, count: int = N) -> str:
    engine = make_engine(f"sqlite:///{path}")
    clock = FakeClock()
    with DecisionLog(engine, clock=clock) as log:
        for n in range(count):
            clock.advance(0.5 if n % 2 else 1)  # every other logged_at has microseconds
            log.append(f"d-{n // 3}", "ProposalCreated", {**PAYLOADS[n % 3], "n": n})
    head = log.head()[1]
    engine.dispose()
    return head


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, list[bytes], str]:
    """(database path, the export's lines, the head hash)."""
    folder = tmp_path_factory.mktemp("export")
    head = build(folder / "q.db")
    engine = make_engine(f"sqlite:///{folder / 'q.db'}")
    result = export_jsonl(engine, folder / "log.jsonl")
    engine.dispose()
    assert result.ok and result.head_hash == head and result.count == N
    return folder / "q.db", (folder / "log.jsonl").read_bytes().splitlines(keepends=True), head


def reference_hash(entry: dict) -> str:
    """An outside auditor's hash: the standard library only."""
    fields = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_an_export_rechains_with_the_standard_library_alone(exported):
    db_path, lines, head = exported
    *entry_lines, head_line = [json.loads(line) for line in lines]
    prev = GENESIS_HASH
    for index, entry in enumerate(entry_lines):
        assert entry.keys() == ENTRY_KEYS
        assert (entry["index"], entry["prev_hash"]) == (index, prev)
        assert reference_hash(entry) == entry["hash"]
        prev = entry["hash"]
    assert head_line == {"count": N, "head_hash": head} and prev == head
    engine = make_engine(f"sqlite:///{db_path}")
    stored = DecisionLog(engine).entries()
    engine.dispose()
    assert [e["payload"] for e in entry_lines] == [s.payload for s in stored]
    assert [e["logged_at"] for e in entry_lines] == [s.logged_at.isoformat() for s in stored]


def test_every_export_line_is_canonical_json(exported):
    _, lines, _ = exported
    assert all(line == canonical_bytes(json.loads(line)) + b"\n" for line in lines)


def test_an_export_verifies_against_its_head_line_and_the_head_kept_elsewhere(exported, tmp_path):
    _, lines, head = exported
    path = write(tmp_path, lines)
    for kept in (None, head):
        result = verify_export(path, expected_head_hash=kept)
        assert (result.ok, result.count, result.head_hash) == (True, N, head)


def test_an_empty_log_exports_just_its_head_line(engine, tmp_path):
    assert export_jsonl(engine, tmp_path / "empty.jsonl").ok
    assert (tmp_path / "empty.jsonl").read_bytes() == (
        b'{"count":0,"head_hash":"%s"}\n' % GENESIS_HASH.encode())
    assert verify_export(tmp_path / "empty.jsonl").ok


def test_a_log_that_does_not_verify_is_not_exported(tmp_path):
    db = tmp_path / "q.db"
    build(db)
    tamper(db, edit_payload_n, 7)
    engine = make_engine(f"sqlite:///{db}")
    result = export_jsonl(engine, tmp_path / "log.jsonl")
    engine.dispose()
    assert (result.ok, result.first_bad_index) == (False, 7)
    assert result.problem == "entry 7: hash does not match its contents"
    assert sorted(p.name for p in tmp_path.iterdir() if "jsonl" in p.name) == []


def edit_payload_n(con: sqlite3.Connection, i: int) -> None:
    row = con.execute('SELECT payload_json FROM decision_log WHERE "index" = ?', (i,)).fetchone()
    payload = {**json.loads(row[0]), "n": 999}
    con.execute('UPDATE decision_log SET payload_json = ? WHERE "index" = ?',
                (canonical_bytes(payload).decode(), i))


# -- tampering with the file --------------------------------------------------------------------


def write(folder: Path, lines: list[bytes], name: str = "log.jsonl") -> Path:
    path = folder / name
    path.write_bytes(b"".join(lines))
    return path


def edited(line: bytes, **changes) -> bytes:
    entry = json.loads(line)
    entry["payload"] = {**entry["payload"], **changes}
    return canonical_bytes(entry) + b"\n"


def forged_after(line: bytes) -> bytes:
    """A well-forged entry chained after ``line``'s entry."""
    last = json.loads(line)
    entry = {"decision_id": "d-forged", "index": last["index"] + 1, "logged_at": last["logged_at"],
             "payload": {"forged": True}, "prev_hash": last["hash"], "stage": "OrderFilled"}
    entry["hash"] = reference_hash(entry)
    return canonical_bytes(entry) + b"\n"


def test_an_edited_payload_is_named(exported, tmp_path):
    _, lines, _ = exported
    changed = [*lines[:5], edited(lines[5], notional_usd=1e9), *lines[6:]]
    result = verify_export(write(tmp_path, changed))
    assert (result.first_bad_index, result.problem) == (
        5, "entry 5: hash does not match its contents")


def test_a_deleted_line_is_named(exported, tmp_path):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, lines[:3] + lines[4:]))
    assert (result.first_bad_index, result.problem) == (3, "entry 3 missing (found 4 after 2)")


def test_swapped_lines_are_named_at_the_first(exported, tmp_path):
    _, lines, _ = exported
    swapped = [*lines[:2], lines[8], *lines[3:8], lines[2], *lines[9:]]
    assert verify_export(write(tmp_path, swapped)).first_bad_index == 2


def test_a_file_without_its_head_line_was_cut_short(exported, tmp_path):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, lines[:-1]))
    assert result.first_bad_index == N
    assert result.problem.startswith("the file does not end with a head line")


def test_a_cut_tail_is_caught_by_the_head_line(exported, tmp_path):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, [*lines[:N - 2], lines[-1]]))
    assert result.first_bad_index == N - 2
    assert result.problem.startswith(f"the log ends at entry {N - 3} ")


def test_a_forged_entry_appended_before_the_head_line_is_named(exported, tmp_path):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, [*lines[:N], forged_after(lines[N - 1]), lines[-1]]))
    assert (result.first_bad_index, result.problem) == (
        N, f"entry {N}: added after the expected head (entry {N - 1})")


def test_a_file_rewritten_as_a_whole_is_caught_only_by_the_head_kept_elsewhere(exported, tmp_path):
    _, lines, head = exported
    shorter = lines[:N - 1]
    new_head = json.loads(shorter[-1])["hash"]
    rewritten = [*shorter, b'{"count":%d,"head_hash":"%s"}\n' % (N - 1, new_head.encode())]
    path = write(tmp_path, rewritten)
    assert verify_export(path).ok
    result = verify_export(path, expected_head_hash=head)
    assert result.first_bad_index == N - 1
    assert "entries at the end are missing or were rewritten" in result.problem


def test_a_rewritten_head_line_is_named_when_the_entries_match_the_kept_head(exported, tmp_path):
    _, lines, head = exported
    path = write(tmp_path, [*lines[:-1], b'{"count":%d,"head_hash":"%s"}\n' % (N, b"a" * 64)])
    result = verify_export(path, expected_head_hash=head)
    assert result.first_bad_index == N
    assert result.problem.endswith("the head line was rewritten")


@pytest.mark.parametrize(("junk", "problem"), [
    (b"not json\n", "line 4: not an entry of an export"),
    (b'{"index": 3}\n', "line 4: not an entry of an export"),
    (b"\n", "line 4: not an entry of an export"),
])
def test_a_line_that_is_not_an_entry_is_named(exported, tmp_path, junk, problem):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, [*lines[:3], junk, *lines[3:]]))
    assert result.first_bad_index == 3 and result.problem.startswith(problem)


def test_a_line_after_the_head_line_is_refused(exported, tmp_path):
    _, lines, _ = exported
    result = verify_export(write(tmp_path, [*lines, lines[-1]]))
    assert not result.ok
    assert result.problem == f"line {N + 2}: a line after the head line"


mutations = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, N - 1)),
    st.tuples(st.just("delete"), st.integers(0, N - 1)),
    st.tuples(st.just("swap"), st.integers(0, N - 1), st.integers(1, N - 1)),
    st.tuples(st.just("duplicate"), st.integers(0, N - 1)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation=mutations)
def test_any_single_mutation_of_the_file_is_caught_at_its_index(exported, tmp_path_factory,
                                                               mutation):
    _, lines, _ = exported
    entries, head_line = list(lines[:-1]), lines[-1]
    kind, i, *rest = mutation
    expected = i
    if kind == "edit":
        entries[i] = edited(entries[i], n=-1)
    elif kind == "delete":
        del entries[i]
    elif kind == "swap":
        j = (i + rest[0]) % N
        entries[i], entries[j] = entries[j], entries[i]
        expected = min(i, j)
    else:  # the same entry twice in a row: "entry i appears again"
        entries.insert(i + 1, entries[i])
    result = verify_export(write(tmp_path_factory.mktemp("mut"), [*entries, head_line]))
    assert not result.ok
    assert result.first_bad_index == expected, result.problem

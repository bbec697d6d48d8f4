"""`quorum audit export|verify-export` and `quorum decisions list|show`, run as a person runs them.

One real backtest (synthetic market, 400 bars: auto, human-approved, denied and escalated
decisions) writes the log every test reads; commands run as real processes.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.canonical import canonical_bytes
from core.models import Stage
from state.db import make_engine
from state.decision_log import latest_decision_ids, read_entries, verify

QUORUM = [sys.executable, "-m", "core.cli"]


def quorum(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def backtest_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "quorum.db"
    result = quorum("backtest", "--bars", "400", "--db", str(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def log(backtest_db):
    engine = make_engine(f"sqlite:///{backtest_db}")
    entries, head = read_entries(engine), verify(engine).head_hash
    engine.dispose()
    return entries, head


def first_decision_with(entries, stage: str) -> str:
    return next(e.decision_id for e in entries if e.stage == stage)


# -- audit export / verify-export ----------------------------------------------------------------


def test_export_prints_the_head_and_verify_export_accepts_the_file(backtest_db, log, tmp_path):
    entries, head = log
    out = tmp_path / "log.jsonl"
    exported = quorum("audit", "export", "--db", str(backtest_db), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == f"OK {len(entries)} entries head={head} written to {out}"
    lines = out.read_bytes().splitlines()
    assert len(lines) == len(entries) + 1
    assert json.loads(lines[-1]) == {"count": len(entries), "head_hash": head}
    for kept in ([], ["--head", head]):
        checked = quorum("audit", "verify-export", str(out), *kept)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip() == f"OK {len(entries)} entries head={head}"


def test_verify_export_names_the_first_edited_entry_and_exits_1(backtest_db, log, tmp_path):
    out = tmp_path / "log.jsonl"
    assert quorum("audit", "export", "--db", str(backtest_db), "--out", str(out)).returncode == 0
    lines = out.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[9])
    entry["payload"]["forged"] = True
    lines[9] = canonical_bytes(entry) + b"\n"
    out.write_bytes(b"".join(lines))
    checked = quorum("audit", "verify-export", str(out))
    assert checked.returncode == 1
    assert checked.stdout.strip() == (
        f"FAIL {out}: first bad entry 9: entry 9: hash does not match its contents")


def test_a_tampered_log_is_not_exported(backtest_db, tmp_path):
    copy = tmp_path / "copy.db"
    with sqlite3.connect(backtest_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as con:
        con.execute("""UPDATE decision_log SET payload_json = '{"forged":true}'
                       WHERE "index" = 5""")
    out = tmp_path / "log.jsonl"
    exported = quorum("audit", "export", "--db", str(copy), "--out", str(out))
    assert exported.returncode == 1
    assert exported.stdout.strip() == (
        f"FAIL {copy}: first bad entry 5: entry 5: hash does not match its contents "
        "(nothing exported)")
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if "jsonl" in p.name] == []


@pytest.mark.parametrize(("out", "message"), [
    ("missing/log.jsonl", "folder {tmp}/missing does not exist"),
    (".", "is a folder, expected a file name"),
    ("exists.jsonl", "exists; pass --force to overwrite it"),
])
def test_export_refuses_an_out_it_cannot_or_should_not_write(backtest_db, tmp_path, out, message):
    (tmp_path / "exists.jsonl").write_text("keep me")
    result = quorum("audit", "export", "--db", str(backtest_db), "--out", str(tmp_path / out))
    assert result.returncode == 2
    assert message.format(tmp=tmp_path) in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "exists.jsonl").read_text() == "keep me"


def test_verify_export_of_a_missing_file_is_an_error_naming_it(tmp_path):
    result = quorum("audit", "verify-export", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such file" in result.stderr


# -- decisions show / list ---------------------------------------------------------------------


def amount(value: float) -> str:
    """How the trace writes amounts: two decimals from 1 up, six significant digits below."""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"


def stage_headers(output: str) -> list[tuple[int, str]]:
    return [(int(i), stage) for i, stage in re.findall(r"^#(\d+) (\w+)  ", output, re.MULTILINE)]


def test_show_prints_a_human_approved_decision_stage_by_stage(backtest_db, log):
    entries, _ = log
    decision_id = first_decision_with(entries, Stage.APPROVAL_GRANTED)
    mine = [e for e in entries if e.decision_id == decision_id]
    shown = quorum("decisions", "show", decision_id, "--db", str(backtest_db))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert stage_headers(out) == [(e.index, e.stage) for e in mine]
    stages = [e.stage for e in mine]
    assert stages[:3] == ["ProposalCreated", "RiskAssessed", "PolicyAllowed"]
    assert stages[3] in ("ReviewApproved", "ReviewEscalated")
    assert stages[4:] == ["ApprovalRequested", "ApprovalGranted", "OrderSubmitted",
                          "OrderFilled", "PortfolioUpdated"]
    proposal = mine[0].payload["proposal"]
    verdict, review = mine[2].payload, mine[3].payload
    order, fill = mine[6].payload, mine[7].payload
    assert out.startswith(f"decision {decision_id}: filled\n")
    assert f"“{proposal['rationale']}”" in out
    assert f"by {proposal['strategy']}" in out
    for fired in verdict["fired"]:
        assert f"rule       {fired['rule']} ({fired['effect']}): {fired['reason']}" in out
    assert f"reviewer   {review['reviewer']} (offline, no language model)" in out
    for reason in review["reasons"]:
        assert f"reason     {reason}" in out
    assert "approvers  backtest:simulated" in out
    assert f"order      {order['side']} {order['asset']} notional" in out
    verb = {"buy": "bought", "sell": "sold"}[fill["side"]]
    assert f"fill       {verb} {amount(fill['quantity'])} {fill['asset']} at" in out
    assert out.rstrip().endswith("outcome: filled")


def test_show_prints_a_denied_decision_with_the_rule_that_denied_it(backtest_db, log):
    entries, _ = log
    decision_id = first_decision_with(entries, Stage.POLICY_DENIED)
    denied = next(e for e in entries if e.decision_id == decision_id and e.stage == "PolicyDenied")
    out = quorum("decisions", "show", decision_id, "--db", str(backtest_db)).stdout
    assert "verdict    denied, tier deny, notional" in out
    deny = next(f for f in denied.payload["fired"] if f["effect"] == "deny")
    assert f"rule       {deny['rule']} (deny): {deny['reason']}" in out
    assert out.rstrip().endswith("outcome: denied by policy")


def test_show_names_an_id_that_is_not_in_the_log(backtest_db):
    result = quorum("decisions", "show", "d-nope", "--db", str(backtest_db))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: no decision 'd-nope' in the decision log at {backtest_db} "
        "(`quorum decisions list` shows the latest ids)")


def test_show_on_a_missing_database_names_it(tmp_path):
    result = quorum("decisions", "show", "d-1", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 2
    assert f"no Quorum database at {tmp_path / 'nope.db'}" in result.stderr
    assert not (tmp_path / "nope.db").exists()


def test_list_prints_the_latest_decisions_newest_first(backtest_db, log):
    entries, _ = log
    engine = make_engine(f"sqlite:///{backtest_db}")
    newest = latest_decision_ids(engine, limit=4)
    engine.dispose()
    listed = quorum("decisions", "list", "--limit", "4", "--db", str(backtest_db))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == newest
    assert newest[0] == entries[-1].decision_id  # RunFinished is the last entry
    for line, decision_id in zip(lines, newest):
        count = sum(e.decision_id == decision_id for e in entries)
        assert line.endswith(f"{count} entries")


# -- what a person may get wrong -----------------------------------------------------------------


def _copy(backtest_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(backtest_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return copy


def test_export_never_writes_over_the_database_it_exports(backtest_db, tmp_path):
    """With --force it used to: the whole log, queue and orders gone, replaced by JSONL."""
    copy = _copy(backtest_db, tmp_path)
    before = copy.read_bytes()
    result = quorum("audit", "export", "--db", str(copy), "--out", str(copy), "--force")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --out {copy}: is the database being exported"
    assert copy.read_bytes() == before


def test_a_head_is_read_in_any_case_and_a_mistyped_one_is_no_cut_log(backtest_db, log):
    _, head = log
    upper = quorum("audit", "verify", "--db", str(backtest_db), "--head", head.upper())
    assert upper.returncode == 0 and upper.stdout.strip().endswith(f"head={head}")
    for command in (["audit", "verify", "--db", str(backtest_db)], ["audit", "verify-export",
                                                                    str(backtest_db)]):
        typo = quorum(*command, "--head", "c4e2f5")
        assert typo.returncode == 2 and typo.stdout == ""
        assert "error: --head: 'c4e2f5' is not a head hash (64 hex digits" in typo.stderr


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("payload_json", "{not json", "payload is not valid JSON"),
    ("logged_at", "garbage", "logged_at 'garbage' is not a timestamp"),
])
def test_a_row_that_does_not_read_back_is_named_in_one_line(backtest_db, log, tmp_path, column,
                                                             value, problem):
    entries, _ = log
    copy = _copy(backtest_db, tmp_path)
    with sqlite3.connect(copy) as con:
        con.execute(f'UPDATE decision_log SET {column} = ? WHERE "index" = 5', (value,))
    expected = (f"error: the decision log cannot be read: entry 5: {problem} "
                "(`quorum audit verify` checks it all)")
    for command in (["decisions", "list", "--limit", "1000"],
                    ["decisions", "show", entries[5].decision_id]):
        result = quorum(*command, "--db", str(copy))
        assert (result.returncode, result.stderr.strip()) == (2, expected), result.stderr

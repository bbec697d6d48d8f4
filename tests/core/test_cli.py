"""The `quorum` command as a person runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.models import Order, Side, Tier
from state.approvals import ApprovalQueue
from state.db import make_engine

QUORUM = [sys.executable, "-m", "core.cli"]


def quorum(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], capture_output=True, text=True, timeout=timeout)


def head_printed(output: str) -> str:
    match = re.search(r"head=([0-9a-f]{64})", output)
    assert match, output
    return match.group(1)


def test_backtest_writes_the_documented_json_and_leaves_a_log_that_verifies(
    tmp_path, db_url, shared_data
):
    out = tmp_path / "out.json"
    result = quorum("backtest", "--data", str(shared_data / "ETH_BTC-5m.csv"),
                    "--strategy", "sma_cross", "--json", str(out), "--db", db_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report) >= {"bars", "trades", "final_equity", "return_pct", "max_drawdown_pct",
                           "sharpe", "elapsed_s"}
    assert report["bars"] == 5760
    assert report["trades"], "sma_cross on 20 days of 5m bars should trade"
    assert set(report["trades"][0]) == {"asset", "side", "entry_time", "entry_price",
                                        "exit_time", "exit_price", "size", "pnl"}
    assert all(t["exit_time"] >= t["entry_time"] for t in report["trades"])
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 0
    assert verified.stdout.strip() == (
        f"OK {_count(db_url)} entries head={head_printed(result.stdout)}"
    )


def test_audit_verify_names_the_first_bad_entry_and_exits_1(tmp_path, db_url):
    result = quorum("backtest", "--bars", "300", "--db", db_url)
    assert result.returncode == 0, result.stderr
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE decision_log SET payload_json = '{\"forged\":true}' WHERE \"index\" = 5")
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 1
    assert "first bad entry 5" in verified.stdout


def test_approvals_are_listed_approved_and_rejected_from_the_command_line(db_url):
    queue = ApprovalQueue(make_engine(db_url))
    requests = [
        queue.request(_order(f"d-{i}"), tier=Tier.HUMAN, required_approvals=1, expiry_s=900)
        for i in range(2)
    ]
    listed = quorum("approvals", "list", "--db", db_url)
    assert all(r.request_id in listed.stdout for r in requests)
    approved = quorum("approvals", "approve", requests[0].request_id, "--as", "alice", "--db", db_url)
    assert approved.returncode == 0 and "approved" in approved.stdout
    again = quorum("approvals", "approve", requests[0].request_id, "--as", "bob", "--db", db_url)
    assert again.returncode == 2
    assert "already approved" in again.stderr and "Traceback" not in again.stderr
    rejected = quorum("approvals", "reject", requests[1].request_id, "--db", db_url)
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert queue.get(requests[1].request_id).status.value == "rejected"


def test_a_bad_data_file_is_refused_naming_file_row_and_problem(tmp_path, db_url):
    bad = tmp_path / "ETH_USD-1h.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10,5\n"
        "2024-01-01T01:00:00Z,10,11,9,-3.1,5\n"
    )
    result = quorum("backtest", "--data", str(bad), "--db", db_url)
    assert result.returncode == 2
    assert "ETH_USD-1h.csv row 3" in result.stderr and "positive" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_config_key_is_named(tmp_path, db_url):
    config = tmp_path / "quorum.toml"
    config.write_text("[risk]\nfractoin = 0.2\n")
    result = quorum("backtest", "--bars", "100", "--config", str(config), "--db", db_url)
    assert result.returncode == 2
    assert "risk.fractoin: unknown key" in result.stderr


def test_init_writes_a_starter_config_that_runs(tmp_path, db_url):
    path = tmp_path / "quorum.toml"
    assert quorum("init", str(path)).returncode == 0
    assert quorum("init", str(path)).returncode == 2  # never overwrites without --force
    result = quorum("backtest", "--bars", "200", "--config", str(path), "--db", db_url)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_run_headless_prints_its_summary_and_the_log_verifies(db_url):
    result = quorum("run", "--headless", "--ticks", "120", "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert "120 ticks on the ray runtime" in result.stdout
    assert "decisions by outcome" in result.stdout
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.stdout.strip().endswith(f"head={head_printed(result.stdout)}")


@pytest.mark.slow
def test_ctrl_c_stops_after_the_tick_in_progress_and_loses_nothing(db_url):
    proc = subprocess.Popen(
        [*QUORUM, "run", "--headless", "--ticks", "2000", "--interval", "0.05", "--db", db_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for the first progress line on stderr
            line = proc.stderr.readline()
            if line.startswith("tick "):
                break
        else:
            pytest.fail("quorum run printed no progress")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert "(stopped early)" in stdout
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 0
    assert verified.stdout.strip().endswith(f"head={head_printed(stdout)}")


def _count(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT COUNT(*) FROM decision_log").fetchone()[0]


def _order(decision_id: str) -> Order:
    from datetime import UTC, datetime

    return Order(order_id=f"o-{decision_id}", decision_id=decision_id, tick=1,
                 created_at=datetime.now(UTC), asset="ETH", side=Side.BUY, notional_usd=20_000)

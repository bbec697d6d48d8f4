"""The `quorum` command as a person runs it: a real process, real files, real exit codes.

The three `quorum run` tests start Ray in their process (about 20 s each) and come last. The
headless run and the run the second Ctrl-C aborts are started in the background when the module
starts (if their tests were selected), so Ray starts on the second core while the other tests,
one process each, run.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shadow import shadowed_cli

QUORUM = [sys.executable, "-m", "core.cli"]


def quorum(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def quorum_side_by_side(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Independent commands as separate processes at the same time (each mostly imports, on
    one core); their results in order."""
    procs = [subprocess.Popen([*QUORUM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for args in commands]
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return results


def head_printed(output: str) -> str:
    match = re.search(r"head=([0-9a-f]{64})", output)
    assert match, output
    return match.group(1)


HEADLESS_TICKS = 120
HEADLESS_TEST = "test_run_headless_prints_its_summary_and_the_log_verifies"


@pytest.fixture(scope="module")
def headless_run(tmp_path_factory) -> Iterator[tuple[subprocess.Popen, Path, str]]:
    """`quorum run --headless --ticks 120`, started now and left running; its output goes to
    files (a pipe nobody reads would stall it). Killed, with its Ray, if a test did not wait.

    It starts in a folder holding another `core/` (tests/shadow.py), with a relative `--db`:
    Ray puts that folder first on its workers' path, and the actors must import Quorum's own
    code all the same, and open the database the driver means."""
    folder = tmp_path_factory.mktemp("headless-run")
    db_url = f"sqlite:///{folder / 'quorum.db'}"
    command, env = shadowed_cli(folder)
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        proc = subprocess.Popen(
            [*command, "run", "--headless", "--ticks", str(HEADLESS_TICKS),
             "--db", "sqlite:///quorum.db"],
            stdout=out, stderr=err, start_new_session=True, cwd=folder, env=env,
        )
    yield proc, folder, db_url
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


ABORT_TEST = "test_a_second_ctrl_c_aborts_with_one_line_and_exit_130"
ABORT_TICKS = 19


@pytest.fixture(scope="module")
def abort_run(tmp_path_factory) -> Iterator[tuple[subprocess.Popen, str]]:
    """`quorum run --headless` in its own process group, long enough (19 ticks 15 s apart) to be
    still running when its test comes; 19 ticks or fewer print a progress line each."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('abort-run') / 'quorum.db'}"
    proc = subprocess.Popen(
        [*QUORUM, "run", "--headless", "--ticks", str(ABORT_TICKS), "--interval", "15", "--db", db_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    yield proc, db_url
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module", autouse=True)
def _ray_runs_start_with_the_module(request: pytest.FixtureRequest) -> None:
    """The runs that start Ray start now, on the second core, while the other tests run."""
    selected = {item.name for item in request.session.items}
    if HEADLESS_TEST in selected:
        request.getfixturevalue("headless_run")
    if ABORT_TEST in selected:
        request.getfixturevalue("abort_run")


def test_backtest_writes_the_documented_json_and_leaves_a_log_that_verifies(
    tmp_path, db_url, shared_data
):
    out = tmp_path / "out.json"
    result = quorum("backtest", "--data", str(shared_data / "ETH_BTC-5m.csv"),
                    "--strategy", "sma_cross", "--json", str(out), "--db", db_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert ("prices are in BTC: cash (100 BTC), fees, policy limits and strategy amounts "
            "(amount_usd, size_usd) are read in BTC") in result.stderr
    assert set(report) >= {"bars", "trades", "final_equity", "return_pct", "max_drawdown_pct",
                           "sharpe", "elapsed_s"}
    assert report["bars"] == 5760
    assert report["trades"], "sma_cross on 20 days of 5m bars should trade"
    assert set(report["trades"][0]) == {"asset", "side", "entry_time", "entry_price",
                                        "exit_time", "exit_price", "size", "pnl", "strategy"}
    assert {t["strategy"] for t in report["trades"]} == {"sma_cross"}
    assert all(t["exit_time"] >= t["entry_time"] for t in report["trades"])
    pnls = [t["pnl"] for t in report["trades"]]
    assert report["number_of_trades"] == len(pnls)
    assert report["win_rate_pct"] == pytest.approx(100 * sum(p > 0 for p in pnls) / len(pnls))
    losses = -sum(p for p in pnls if p < 0)
    assert report["profit_factor"] == pytest.approx(sum(p for p in pnls if p > 0) / losses)
    assert 0 < report["exposure_pct"] < 100
    denied = re.search(r"decisions by outcome .*denied (\d+)", result.stdout).group(1)
    fired = ", ".join(f"{rule} {n}" for rule, n in report["denied_by_rule"].items())
    assert f"governance            denied {denied} (rules fired: {fired})" in result.stdout
    assert report["denied"] == int(denied)
    assert 0 < report["denied"] <= sum(report["denied_by_rule"].values())  # rules fired per decision
    assert {"sortino", "cagr_pct", "vetoed", "escalated"} <= set(report)
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 0
    assert verified.stdout.strip() == (
        f"OK {_count(db_url)} entries head={head_printed(result.stdout)}"
    )


def test_audit_verify_names_the_first_bad_entry_and_exits_1(tmp_path, db_url):
    result = quorum("backtest", "--bars", "300", "--db", db_url)
    assert result.returncode == 0, result.stderr
    # Before the forgery: audit verify reads the database a backtest made (f48c0c7, several
    # writers share one decision log) and finds it whole.
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == (
        f"OK {_count(db_url)} entries head={head_printed(result.stdout)}"
    )
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE decision_log SET payload_json = '{\"forged\":true}' WHERE \"index\" = 5")
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.returncode == 1
    assert "first bad entry 5" in verified.stdout


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


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints: exit 2, `error: ...`, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# Regression: each of these ended in a Python traceback instead of one line naming the problem.
@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("[data]\nassets = []\n", "data.assets: must name at least one symbol"),
        ('[data]\nassets = ["BTC", "BTC"]\n', "data.assets: must be unique; repeated: BTC"),
        ('[data]\nassets = ["btc"]\n', "data.assets: 'btc' is not an upper-case symbol"),
        ("[data]\nstart = 2024-01-01T00:00:00\n",
         "data.start: 2024-01-01T00:00:00 needs a timezone"),
    ],
)
def test_a_bad_data_section_is_one_error_line_naming_file_and_key(tmp_path, db_url, section, named):
    config = tmp_path / "quorum.toml"
    config.write_text(section)
    result = quorum("backtest", "--bars", "50", "--config", str(config), "--db", db_url)
    assert error_line(result).startswith(f"error: {config}: {named}")


def test_a_command_line_click_refuses_is_one_error_line_naming_the_option():
    """Regression: Typer boxed these in a frame of usage text (exit 2 all the same)."""
    folds, unknown, missing = quorum_side_by_side(
        ["backtest", "--sweep", "fast=5:9:2", "--folds", "0"], ["backtest", "--foldz", "3"],
        ["approvals", "show"])
    for result in (folds, unknown, missing):
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert folds.stderr.strip() == ("error: --folds: Input should be greater than or equal to 1 "
                                    "(see 'quorum backtest --help')")
    assert unknown.stderr.startswith("error: No such option: --foldz (Possible options: --folds)")
    assert missing.stderr.strip() == ("error: Missing argument 'request_id' "
                                      "(see 'quorum approvals show --help')")


def test_init_into_a_missing_folder_names_the_path(tmp_path):
    path = tmp_path / "missing" / "q.toml"
    line = error_line(quorum("init", str(path)))
    assert line == f"error: cannot write {path}: No such file or directory"
    assert not path.parent.exists()


def test_backtest_refuses_a_json_path_in_a_missing_folder_before_running(tmp_path, db_url):
    out = tmp_path / "missing" / "o.json"
    line = error_line(quorum("backtest", "--bars", "50", "--json", str(out), "--db", db_url))
    assert line == f"error: --json {out}: folder {out.parent} does not exist"
    assert not Path(db_url.removeprefix("sqlite:///")).exists(), "the run must not have started"


# Regression: `quorum audit verify --db sqlite:////tmp/typo.db` created the file and printed
# `OK 0 entries`; commands that only read state now refuse a database that is not there.
@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["approvals", "list"],
        ["approvals", "show", "a-123"],
        ["approvals", "approve", "a-123", "--as", "alice"],
        ["approvals", "reject", "a-123"],
    ],
)
def test_state_commands_refuse_a_database_that_does_not_exist(tmp_path, command):
    typo = tmp_path / "typo.db"
    in_missing_folder = tmp_path / "nowhere" / "quorum.db"
    as_url, as_path = quorum_side_by_side([*command, "--db", f"sqlite:///{typo}"],
                                          [*command, "--db", str(in_missing_folder)])
    assert error_line(as_url) == f"error: no Quorum database at {typo}"
    assert error_line(as_path) == f"error: no Quorum database at {in_missing_folder}"
    assert list(tmp_path.iterdir()) == []  # neither created a file or a folder


@pytest.mark.slow
def test_run_headless_prints_its_summary_and_the_log_verifies(headless_run):
    proc, folder, db_url = headless_run
    returncode = proc.wait(timeout=300)
    stdout, stderr = (folder / "stdout").read_text(), (folder / "stderr").read_text()
    assert returncode == 0, stderr
    assert f"{HEADLESS_TICKS} ticks on the ray runtime" in stdout
    assert "decisions by outcome" in stdout
    verified = quorum("audit", "verify", "--db", db_url)
    assert verified.stdout.strip().endswith(f"head={head_printed(stdout)}")


@pytest.mark.slow
def test_ctrl_c_stops_after_the_tick_in_progress_and_loses_nothing(db_url):
    # 200 ticks: the first progress line comes at tick 20, leaving 180 (9 s or more) to stop in.
    proc = start_run_and_wait_for_progress("--ticks", "200", "--interval", "0.05", "--db", db_url)
    try:
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


@pytest.mark.slow
def test_a_second_ctrl_c_aborts_with_one_line_and_exit_130(abort_run):
    # Regression: the second Ctrl-C ended the run without a word (or in a traceback).
    proc, db_url = abort_run
    assert proc.poll() is None, f"the {ABORT_TICKS}-tick run ended before its test"
    seen = read_until_a_new_progress_line(proc)  # a tick has just ended: its 15 s wait begins
    try:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)  # inside the wait between ticks: the run has not stopped yet
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stderr = (seen + stderr).decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "aborted"
    assert b"Quorum run" not in stdout  # aborted: no summary
    assert quorum("audit", "verify", "--db", db_url).returncode == 0


def read_until_a_new_progress_line(proc: subprocess.Popen) -> bytes:
    """Everything the run wrote on stderr up to the end of a progress line written after this
    call began (the lines already waiting in the pipe are older); the pipe left blocking."""
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    try:
        old = _read_ready(fd)
        new = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and b"tick " not in new.rpartition(b"\n")[0]:
            select.select([fd], [], [], 1.0)
            chunk = _read_ready(fd)
            if not chunk and proc.poll() is not None:
                break
            new += chunk
    finally:
        os.set_blocking(fd, True)
    if b"tick " not in new:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"quorum run printed no new progress line: {(old + new)[-2000:]!r}")
    return old + new


def _read_ready(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def start_run_and_wait_for_progress(*args: str) -> subprocess.Popen:
    """`quorum run --headless ARGS` in its own process group, once it has printed progress."""
    proc = subprocess.Popen(
        [*QUORUM, "run", "--headless", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the first progress line on stderr
        if proc.stderr.readline().startswith("tick "):
            return proc
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("quorum run printed no progress")


def _count(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT COUNT(*) FROM decision_log").fetchone()[0]



def test_run_and_backtest_read_cash_in_a_btc_quote_alike_and_say_so(tmp_path, shared_data):
    """`run` said nothing of the data and started with 100,000 BTC; a backtest ignored the
    config's cash_usd for BTC-quoted data."""
    candles = tmp_path / "ETH_BTC-5m.csv"
    candles.write_text("".join((shared_data / "ETH_BTC-5m.csv").read_text().splitlines(True)[:301]))
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[data]\nsource = "files"\nfiles = ["{candles}"]\n', encoding="utf-8")
    five = tmp_path / "five.toml"
    five.write_text(f'[run]\ncash_usd = 5\n{plain.read_text()}', encoding="utf-8")
    # the folder check stops `run` once its data and cash are settled, before Ray starts
    ran = quorum("run", "--headless", "--config", str(plain), "--db",
                 f"sqlite:///{tmp_path / 'nope' / 'x.db'}")
    lines = ran.stderr.splitlines()
    assert lines[0] == ("loaded ETH_BTC-5m.csv as ETH in BTC: 300 bars 2018-01-10T04:55Z → "
                        "2018-01-11T05:50Z")
    assert lines[1].startswith("prices are in BTC: cash (100 BTC), fees, policy limits")
    backtest = quorum("backtest", "--config", str(five), "--db", f"sqlite:///{tmp_path / 'b.db'}")
    assert backtest.returncode == 0, backtest.stderr
    assert "prices are in BTC: cash (5 BTC)" in backtest.stderr
    assert "(start 5.00)" in backtest.stdout

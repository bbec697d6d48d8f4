"""The shared kill switch: flipped in the database by any channel, obeyed by a running governor
from its next tick, and by a run that starts while it is engaged."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from core.governor import Governor
from core.human_gate import SimulatedGate
from core.models import Side, Stage
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.db import make_engine
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard
from tests.integration.support import market, settings, write_policy


@pytest.fixture
def parts(tmp_path, db_url):
    policy_path = write_policy(tmp_path, auto_max=100_000)  # the simulated gate approves above
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)

    def governor() -> Governor:
        runtime = LocalRuntime(build_specs(s, data=market(s, bars=300), db_url=db_url,
                                           run_id="t"))
        return Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine), human_gate=SimulatedGate(approve=True),
                        run_id="t", kill_switch=KillSwitchBoard(engine))

    return governor, KillSwitchBoard(engine), engine


def buys_submitted(engine, ticks: range) -> int:
    orders = [e for e in DecisionLog(engine).entries() if e.stage == Stage.ORDER_SUBMITTED
              and e.payload["tick"] in ticks]
    return sum(1 for e in orders if e.payload["side"] == Side.BUY.value)


def test_an_engaged_switch_stops_entries_from_the_next_tick_and_resume_restarts_them(parts):
    make, board, engine = parts
    governor = make()
    for tick in range(0, 120):
        governor.step(tick)
    assert buys_submitted(engine, range(0, 120)) > 0
    board.engage(by="'alice' via cli", reason="drill")
    for tick in range(120, 240):
        governor.step(tick)
    assert governor.kill_switch_engaged
    assert buys_submitted(engine, range(120, 240)) == 0
    board.resume(by="'bob' via tui", reason="all clear")
    for tick in range(240, 300):
        governor.step(tick)
    assert not governor.kill_switch_engaged
    stages = Counter(e.stage for e in DecisionLog(engine).entries("kill-switch"))
    assert stages == {"KillSwitchEngaged": 1, "KillSwitchResumed": 1}
    engaged = DecisionLog(engine).entries("kill-switch")[0].payload
    assert engaged == {"by": "'alice' via cli", "reason": "drill"}


def test_a_run_that_starts_while_the_switch_is_engaged_starts_engaged(parts):
    make, board, engine = parts
    board.engage(by="'alice' via cli", reason="before the start")
    governor = make()
    assert governor.kill_switch_engaged
    for tick in range(0, 150):
        governor.step(tick)
    assert buys_submitted(engine, range(0, 150)) == 0


def quorum(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "kill-switch", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_engages_shows_and_resumes_only_for_an_approver(tmp_path, db_url):
    make_engine(db_url).dispose()  # the running system's database
    config = tmp_path / "quorum.toml"
    config.write_text('[approvals]\ncli = ["alice"]\n', encoding="utf-8")
    assert quorum("status", "--db", db_url).stdout.strip() == "kill switch off"
    engaged = quorum("engage", "--reason", "drill", "--as", "mallory", "--db", db_url)
    assert engaged.returncode == 0, engaged.stderr
    assert "ENGAGED by 'mallory' via cli: drill" in engaged.stdout  # anyone may stop
    assert "ENGAGED by 'mallory' via cli" in quorum("status", "--db", db_url).stdout
    refused = quorum("resume", "--as", "mallory", "--config", str(config), "--db", db_url)
    assert refused.returncode == 2
    assert "'mallory' via cli may not resume" in refused.stderr
    assert "ENGAGED" in quorum("status", "--db", db_url).stdout
    resumed = quorum("resume", "--as", "alice", "--config", str(config), "--db", db_url)
    assert resumed.returncode == 0, resumed.stderr
    assert quorum("status", "--db", db_url).stdout.startswith("kill switch off (resumed by "
                                                                "'alice' via cli")


def test_the_cli_never_engages_a_database_no_run_will_read(tmp_path, db_url):
    """A mistyped --db used to get a fresh database, a switch engaged in it and exit 0, while the
    real system traded on; an empty --db (an unset $VAR) meant the default database."""
    typo = tmp_path / "quorom.db"
    for args in (("engage", "--reason", "stop"), ("status",)):
        result = quorum(*args, "--db", str(typo))
        assert result.returncode == 2
        assert result.stderr.strip() == f"error: no Quorum database at {typo}"
        assert not typo.exists()
    empty = quorum("engage", "--reason", "stop", "--db", "")
    assert empty.returncode == 2 and "error: --db: is empty" in empty.stderr


def test_what_the_cli_prints_of_a_reason_stays_on_its_line(db_url):
    make_engine(db_url).dispose()
    forged = "drill\nkill switch off"
    engaged = quorum("engage", "--reason", forged, "--as", "bob", "--db", db_url)
    assert engaged.returncode == 0, engaged.stderr
    assert engaged.stdout.splitlines() == [
        "kill switch ENGAGED by 'bob' via cli: drill\\nkill switch off"]
    status = quorum("status", "--db", db_url).stdout.splitlines()
    assert len(status) == 1 and status[0].endswith(": drill\\nkill switch off")
    assert KillSwitchBoard(make_engine(db_url)).latest().reason == forged  # kept as typed
    blank = quorum("engage", "--reason", "x", "--as", "   ", "--db", db_url)
    assert blank.returncode == 2 and "--as is blank" in blank.stderr


def test_an_argument_that_is_not_utf8_is_one_line_and_changes_nothing(db_url):
    make_engine(db_url).dispose()
    result = subprocess.run([sys.executable, "-m", "core.cli", "kill-switch", "engage", "--reason",
                             b"bad \xff byte", "--db", db_url],
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.decode() == "error: the argument 'bad \\xff byte' is not UTF-8 text\n"
    assert KillSwitchBoard(make_engine(db_url)).latest() is None

"""--mode live: refused unless the policy allows it, a person is at a terminal, and types the
phrase; nothing is started when it is refused. Past the gate, a live run still needs its node
and an existing key (tests/core/test_cli_modes.py) and runs on the user's chain
(tests/chain/test_live_venue.py)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from core.live_gate import CONFIRMATION, LiveRefused, check_live
from policies.engine import DEFAULT_POLICY, PolicyEngine

QUORUM = [sys.executable, "-m", "core.cli"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def live_policy(tmp_path):
    path = tmp_path / "live.toml"
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    path.write_text(text.replace("live_enabled = false", "live_enabled = true"), encoding="utf-8")
    return path


def test_the_shipped_policy_refuses_live_trading_from_the_command_line(tmp_path):
    result = subprocess.run([*QUORUM, "run", "--mode", "live", "--headless", "--db",
                             f"sqlite:///{tmp_path / 'x.db'}"],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            check=False)
    assert result.returncode != 0
    assert "live_enabled = false" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing started, not even the database


def test_a_policy_that_allows_it_is_still_refused_off_a_terminal(tmp_path, live_policy):
    config = tmp_path / "quorum.toml"
    config.write_text(f'policy_file = "{live_policy}"\n', encoding="utf-8")
    result = subprocess.run([*QUORUM, "run", "--mode", "live", "--headless", "--config",
                             str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            check=False)
    assert result.returncode != 0
    assert "stdin is not a terminal" in result.stderr


def test_on_a_terminal_the_phrase_must_be_typed_exactly(live_policy):
    policy = PolicyEngine.load(live_policy)
    asked = []
    with pytest.raises(LiveRefused, match="the confirmation was not typed"):
        check_live(policy, stdin=Terminal(), ask=lambda text: asked.append(text) or "yes")
    assert CONFIRMATION in asked[0]
    with pytest.raises(LiveRefused, match="the confirmation was not typed"):
        check_live(policy, stdin=Terminal(), ask=lambda text: CONFIRMATION.upper())


def test_every_condition_holding_lets_a_live_run_go_on(live_policy):
    asked = []
    assert check_live(PolicyEngine.load(live_policy), stdin=Terminal(),
                      ask=lambda text: asked.append(text) or f"  {CONFIRMATION} ") is None
    assert len(asked) == 1


def test_the_policy_is_checked_before_anyone_is_asked():
    with pytest.raises(LiveRefused, match="live_enabled = false"):
        check_live(PolicyEngine.load(None), stdin=Terminal(),
                   ask=lambda text: pytest.fail("asked although the policy forbids live"))

"""The real `quorum tui` in a real terminal (tmux): what a person sees, and what their keys do."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.tui.test_panel import ME, system  # noqa: F401  (the fixture: a run waiting for a person)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


class Terminal:
    def __init__(self, command: list[str]) -> None:
        self.name = f"quorum-test-{uuid.uuid4().hex[:8]}"
        line = " ".join(_quote(part) for part in command)
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30",
                        line], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def press(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False,
                       capture_output=True)


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def test_a_person_approves_in_the_real_panel_and_sees_the_log(system, tmp_path, db_url):  # noqa: F811
    _, queue, _, _ = system
    request = queue.list()[0]
    config = tmp_path / "quorum.toml"
    config.write_text(f'[approvals]\ntui = ["{ME}"]\n', encoding="utf-8")
    terminal = Terminal([sys.executable, "-m", "core.cli", "tui", "--db", db_url,
                         "--config", str(config)])
    try:
        terminal.wait_for(request.request_id)
        shown = terminal.wait_for(f"deciding as '{ME}' via tui")
        assert re.search(r"0/1\s+1[45]:\d\d\s+pending", shown), shown  # progress, countdown
        terminal.press("a")
        terminal.wait_for("Approve " + request.request_id)
        terminal.press("y")
        terminal.wait_for("approved (1/1)")
        assert queue.get(request.request_id).status.value == "approved"
        terminal.press("L")
        shown = terminal.wait_for("audit: OK, chain verified")
        assert request.decision_id in shown
        terminal.press("D")
        shown = terminal.wait_for("portfolio as of tick")
        assert "kill switch OFF" in shown and "market phase" in shown
        terminal.press("H")
        shown = terminal.wait_for("last proposal of each strategy")
        assert "no system attached" in shown and "market_intel" in shown
        terminal.press("q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and terminal.name in subprocess.run(
                ["tmux", "ls"], capture_output=True, text=True, check=False).stdout:
            time.sleep(0.2)
    finally:
        terminal.close()

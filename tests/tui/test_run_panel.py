"""`quorum run` on a terminal opens the control panel over the running system; quitting the
panel stops the run after the tick in progress, and the summary follows on the terminal."""

from __future__ import annotations

import shlex
import shutil
import sys

import pytest

from tests.tui.test_tmux import Terminal

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def test_the_panel_opens_over_a_run_and_quitting_it_stops_the_run(db_url):
    run = shlex.join([sys.executable, "-m", "core.cli", "run", "--ticks", "3000",
                      "--interval", "0.05", "--db", db_url])
    terminal = Terminal(["sh", "-c", f"{run}; sleep 60"])  # the summary stays on screen
    try:
        terminal.wait_for("Quorum — approver", timeout_s=120)
        terminal.press("H")
        terminal.wait_for("live: asking the running agents", timeout_s=30)
        agents = terminal.wait_for("treasury      live", timeout_s=30)
        assert "executor      live" in agents
        terminal.press("q")
        shown = terminal.wait_for("(stopped early)", timeout_s=90)
        assert "the run's output while the panel was open:" in shown
        assert "3000 ticks" not in shown
    finally:
        terminal.close()

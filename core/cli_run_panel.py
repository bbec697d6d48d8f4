"""`quorum run` on a terminal: the system runs in this process, the control panel in a child
process on the same terminal, attached to the system's Ray cluster.

While the panel is open this process's stdout and stderr (progress, logs, the agents' output)
go to a log file instead of the terminal, so nothing is lost and nothing garbles the panel.
Quitting the panel stops the run after the tick in progress; a run that ends first waits for
the panel to close. Either way the summary is printed on the terminal afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.session import RunSummary, Session


def panel_possible() -> bool:
    """True when a person is at a terminal (stdin and stdout both are one)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_with_panel(session: Session, *, ticks: int, interval: float, db_url: str,
                   config: Path | None, log_path: Path) -> RunSummary:
    """Run ``ticks`` under the panel; returns the summary once the run and the panel ended."""
    command = [sys.executable, "-m", "core.cli", "tui", "--db", db_url,
               "--address", session.runtime.address]
    if config is not None:
        command += ["--config", str(config)]
    sys.stdout.flush()
    sys.stderr.flush()
    panel = subprocess.Popen(command)  # inherits the terminal
    saved = os.dup(1), os.dup(2)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            try:
                session.governor.run(range(ticks), interval_s=interval,
                                     should_stop=lambda: panel.poll() is not None)
            finally:
                summary = session.finish()
            panel.wait()
        finally:
            if panel.poll() is None:
                panel.terminate()
                panel.wait(timeout=10)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return summary

"""Snapshot tests of every screen at 100×30 over the seeded run (tests/tui/conftest.py): ids,
times and countdowns are the same in every run, so any change to what a screen shows fails here
until the snapshot is looked at and updated:

    pytest tests/tui/test_snapshots.py --snapshot-update

The SVGs live in tests/tui/__snapshots__/test_snapshots/; a failing run writes a side-by-side
report (snapshot_report.html) to look at.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static

from state.decision_log import read_entries
from tests.tui.conftest import seeded_panel
from tests.tui.support import (
    shown,
    wait_for_rows,
    wait_for_text,
)

SIZE = (100, 30)
CPU_BOUND = "<depends on CPU>"
"""Shown for the log's head: 16 characters, as wide as the 16 hex digits it stands for."""


async def _approvals(pilot) -> None:
    await wait_for_rows(pilot, "#pending")
    await wait_for_text(pilot, "#detail", "outcome: awaiting approval")


async def _decisions(pilot) -> None:
    await pilot.press("L")
    await wait_for_rows(pilot, "#decisions")
    await wait_for_text(pilot, "#trace", "outcome:")
    audit = await wait_for_text(pilot, "#audit", "audit: OK")
    # The chain's head covers every logged float to the last bit, and NumPy's SIMD paths (with
    # or without AVX-512) round the synthetic market's last bits differently: the picture keeps
    # the line's shape, and the head it shows is checked here against the log itself.
    head = read_entries(pilot.app.store.engine)[-1].hash
    assert f"head {head[:16]}…" in audit
    pilot.app.screen.query_one("#audit", Static).update(audit.replace(head[:16], CPU_BOUND))


async def _policy(pilot) -> None:
    await pilot.press("P")
    await wait_for_rows(pilot, "#fired")


async def _kill_switch(pilot) -> None:
    await pilot.press("K")
    await wait_for_text(pilot, "#state", "ENGAGED")


async def _dashboard(pilot) -> None:
    await pilot.press("D")
    await wait_for_text(pilot, "#allocation", "cash (USD)")
    await wait_for_text(pilot, "#switch", "ENGAGED")
    assert "n/a" not in shown(pilot.app, "#totals")


async def _agents(pilot) -> None:
    await pilot.press("H")
    await wait_for_rows(pilot, "#agents", at_least=8)
    await wait_for_rows(pilot, "#proposals", at_least=2)


SCREENS = {"approvals": _approvals, "decisions": _decisions, "policy": _policy,
           "kill_switch": _kill_switch, "dashboard": _dashboard, "agents": _agents}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(screen, seeded_run, snap_compare):
    assert snap_compare(seeded_panel(seeded_run), terminal_size=SIZE, run_before=SCREENS[screen])

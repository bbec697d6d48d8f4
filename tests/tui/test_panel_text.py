"""What people and agents wrote is shown as written: the panel never reads it as markup (a stray
closing tag like ``[/oops]`` used to stop the panel; ``[approvals]`` vanished from a line)."""

from __future__ import annotations

import sqlite3

import pytest

from state.db import make_engine
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard
from tests.tui.support import row_text, wait_for_rows, wait_for_text
from tests.tui.test_panel import SIZE, panel

pytestmark = pytest.mark.anyio

REASON = "drill [/oops] after [b]the[/b] RPC said [red]down"


async def test_a_kill_switch_reason_with_brackets_is_shown_as_written(db_url):
    engine = make_engine(db_url)
    KillSwitchBoard(engine).engage(by="'bob' via cli", reason=REASON)
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("K")
        state = await wait_for_text(pilot, "#state", "ENGAGED")
        assert state.endswith(f": {REASON}")


async def test_the_read_only_line_names_the_allowlist_table(db_url):
    app = panel(make_engine(db_url), allowed=("somebody-else",))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "#who", "read-only")
        await wait_for_text(pilot, "#who", "is not on the [approvals] tui allowlist")


async def test_a_log_row_that_does_not_read_back_is_shown_not_a_crash(db_url):
    """Each screen read the log whole; one bad row stopped the panel with a traceback."""
    engine = make_engine(db_url)
    with DecisionLog(engine) as log:
        for n in range(3):
            log.append(f"d-{n}", "RunStarted", {"n": n})
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as con:
        con.execute("""UPDATE decision_log SET payload_json = '{not json' WHERE "index" = 1""")
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        table = await wait_for_rows(pilot, "#decisions", at_least=3)
        rows = {row_text(table, i)[0]: row_text(table, i) for i in range(table.row_count)}
        assert rows["d-1"][2] == "unreadable"
        assert "entry 1: payload is not valid JSON" in rows["d-1"][1]
        await wait_for_text(pilot, "#audit", "audit: BROKEN: entry 1: payload is not valid JSON")
        for screen, widget in (("D", "#totals"), ("H", "#source"), ("P", "#limits")):
            await pilot.press(screen)
            await pilot.pause(0.3)
            assert app.is_running and app.screen.query_one(widget) is not None

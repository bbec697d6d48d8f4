"""What people and agents wrote is shown as written: the panel never reads it as markup (a stray
closing tag like ``[/oops]`` used to stop the panel; ``[approvals]`` vanished from a line)."""

from __future__ import annotations

import pytest

from state.db import make_engine
from state.kill_switch import KillSwitchBoard
from tests.tui.support import wait_for_text
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

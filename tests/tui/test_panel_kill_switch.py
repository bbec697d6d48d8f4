"""The kill switch flipped in the panel stops a running governor's entries from its next tick,
and resuming it in the panel lets them through again."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.governor import Governor
from core.human_gate import SimulatedGate
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.db import make_engine
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard
from tests.integration.support import market, settings, write_policy
from tests.tui.test_panel import SIZE, panel, wait_until

pytestmark = pytest.mark.anyio


def fills(db_url: str, side: str, ticks: range) -> int:
    """Fills on ``side`` whose bar is in ``ticks``, read from the decision log."""
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = 'OrderFilled'")
        payloads = [json.loads(payload) for (payload,) in rows]
    return sum(1 for p in payloads if p["side"] == side and p["tick"] in ticks)


async def test_engaging_in_the_panel_stops_entries_and_resuming_restarts_them(tmp_path, db_url):
    policy_path = write_policy(tmp_path, auto_max=100_000)
    policy_path.write_text(policy_path.read_text() + "[rules.kill_switch]\n")
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    board = KillSwitchBoard(engine)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=400), db_url=db_url, run_id="k"))
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine), human_gate=SimulatedGate(approve=True),
                        run_id="k", kill_switch=board)
    for tick in range(60):
        governor.step(tick)
    assert fills(db_url, "buy", range(60)) > 0, "nothing was bought before the switch"

    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("K", "e", "y")
        await wait_until(pilot, lambda: board.latest() is not None, what="engaging")
        for tick in range(60, 200):
            governor.step(tick)
        assert governor.kill_switch_engaged
        assert governor.state.denied_by_rule["kill_switch"] > 0  # entries were proposed...
        assert fills(db_url, "buy", range(62, 200)) == 0  # ...and none filled (the tick after
        # engaging may still fill an order placed before it)

        await pilot.press("r", "y")
        await wait_until(pilot, lambda: not board.latest().engaged, what="resuming")
    for tick in range(200, 400):
        governor.step(tick)
    assert not governor.kill_switch_engaged
    assert fills(db_url, "buy", range(200, 400)) > 0, "entries did not restart after resuming"

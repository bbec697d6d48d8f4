"""The control panel driven with Textual's pilot over a real run's database: approve a pending
request and see the executor fill it, reject one, decline at the confirmation, stay read-only off
the allowlist, and browse the decision log with its audit status."""

from __future__ import annotations

import getpass
from collections import Counter

import pytest
from textual.widgets import Static

from core.governor import Governor
from core.human_gate import QueueGate
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.approvals import ApprovalQueue
from state.approvers import ApprovalsConfig
from state.db import make_engine
from state.decision_log import DecisionLog
from state.orders import OrderStore
from tests.integration.support import market, settings, write_policy
from tests.tui.support import row_text, wait_for_rows
from tui.app import QuorumApp
from tui.store import PanelStore

ME = getpass.getuser()
SIZE = (100, 30)
pytestmark = pytest.mark.anyio  # anyio's pytest plugin (anyio comes with httpx) runs these


@pytest.fixture
def system(tmp_path, db_url):
    """A paper run on the local runtime stepped until a request waits for a person."""
    policy_path = write_policy(tmp_path, auto_max=1_000)  # every entry needs a person
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=200), db_url=db_url, run_id="t"))
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine), human_gate=QueueGate(ApprovalQueue(engine)),
                        run_id="t")
    queue = ApprovalQueue(engine)
    for tick in range(200):
        governor.step(tick)
        if queue.list():
            return governor, queue, engine, tick
    pytest.fail("no proposal reached the human gate in 200 ticks")


def panel(engine, *, allowed=(ME,)) -> QuorumApp:
    return QuorumApp(PanelStore(engine, approvers=ApprovalsConfig(tui=allowed)),
                     PolicyEngine.load(None))


async def wait_until(pilot, condition, *, what: str) -> None:
    """Let the app work until ``condition()`` holds (at most 2.5 s)."""
    for _ in range(50):
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError(f"{what} never happened")


async def test_approving_in_the_panel_lets_the_executor_fill_exactly_that_order(system):
    governor, queue, engine, tick = system
    request = queue.list()[0]
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        table = await wait_for_rows(pilot, "#pending")
        assert row_text(table, request.request_id)[0] == request.request_id
        await pilot.press("a")
        assert app.screen.__class__.__name__ == "Confirm"
        await pilot.press("y")
        for _ in range(50):
            await pilot.pause(0.05)
            if queue.get(request.request_id).status.value != "pending":
                break
    decided = queue.get(request.request_id)
    assert decided.status.value == "approved"
    assert decided.approvals == (ME,)
    governor.step(tick + 1)  # the gate sees the approval and submits
    governor.step(tick + 2)  # the order fills at this bar's open
    order, status, fill = OrderStore(engine).by_decision(request.decision_id)
    assert status == "filled" and fill is not None
    assert order == request.order  # exactly the order the person saw


async def test_rejecting_and_declining_at_the_confirmation(system):
    _, queue, engine, _ = system
    request = queue.list()[0]
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, "#pending")
        await pilot.press("a", "n")  # asked, and said no: nothing happens
        await pilot.pause(0.2)
        assert queue.get(request.request_id).status.value == "pending"
        await pilot.press("r", "y")
        for _ in range(50):
            await pilot.pause(0.05)
            if queue.get(request.request_id).status.value != "pending":
                break
    assert queue.get(request.request_id).status.value == "rejected"


async def test_a_request_left_alone_expires_and_leaves_the_list(system):
    _, queue, engine, _ = system
    waiting = queue.list()[0]
    order = waiting.order.model_copy(update={"decision_id": "t-late", "order_id": "o-t-late"})
    short = queue.request(order, tier=waiting.tier, expiry_s=1.5)
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        table = await wait_for_rows(pilot, "#pending", at_least=2)
        assert short.request_id in table.rows
        for _ in range(80):
            await pilot.pause(0.05)
            if short.request_id not in table.rows:
                break
        assert short.request_id not in table.rows
        assert waiting.request_id in table.rows
    assert queue.get(short.request_id).status.value == "expired"  # expiry means reject


async def test_off_the_allowlist_the_panel_is_read_only(system):
    _, queue, engine, _ = system
    request = queue.list()[0]
    app = panel(engine, allowed=("somebody-else",))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, "#pending")
        who = str(app.screen.query_one("#who", Static).render())
        assert "read-only" in who and ME in who
        await pilot.press("a")
        await pilot.pause(0.2)
        assert app.screen.__class__.__name__ == "ApprovalsScreen"  # no confirmation offered
    assert queue.get(request.request_id).status.value == "pending"


async def test_the_decision_log_screen_lists_filters_traces_and_verifies(system):
    _, _, engine, _ = system
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        table = await wait_for_rows(pilot, "#decisions")
        first = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        for _ in range(50):
            await pilot.pause(0.05)
            trace = str(app.screen.query_one("#trace", Static).render())
            if first in trace:
                break
        assert f"decision {first}" in trace
        audit = str(app.screen.query_one("#audit", Static).render())
        assert audit.startswith("audit: OK, chain verified")
        await pilot.press("slash", *"awaiting")
        await pilot.pause(1.5)  # the next refresh applies the filter
        assert table.row_count >= 1
        shown = {row_text(table, i)[2] for i in range(table.row_count)}
        assert shown == {"awaiting approval"}
        await pilot.press(*"-no-such-thing")
        for _ in range(50):
            await pilot.pause(0.05)
            if table.row_count == 0:
                break
        assert table.row_count == 0


async def test_the_policy_screen_shows_tiers_limits_and_the_rules_that_fired_today(system):
    _, _, engine, _ = system
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("P")
        limits = str(app.screen.query_one("#limits", Static).render())
        assert "tiers, by the notional of one trade" in limits and "max_notional" in limits
        table = await wait_for_rows(pilot, "#fired")
        shown = {(row[0], row[1]): int(row[2])
                 for row in (row_text(table, i) for i in range(table.row_count))}
    expected = Counter(
        (firing["rule"], firing["effect"])
        for entry in DecisionLog(engine).entries()
        if entry.stage in ("PolicyAllowed", "PolicyDenied")
        for firing in entry.payload["fired"]
    )
    assert shown == dict(expected) and ("tiers", "tier") in shown


async def test_the_kill_switch_key_engages_and_an_approver_resumes_both_confirmed(system):
    from state.kill_switch import KillSwitchBoard

    _, _, engine, _ = system
    board = KillSwitchBoard(engine)
    app = panel(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("K", "e", "y")
        await wait_until(pilot, lambda: board.latest() is not None, what="engaging")
        assert board.latest().engaged and board.latest().by == f"'{ME}' via tui"
        await pilot.pause(1.2)
        assert "ENGAGED" in str(app.screen.query_one("#state", Static).render())
        await pilot.press("r", "y")
        await wait_until(pilot, lambda: not board.latest().engaged, what="resuming")


async def test_off_the_allowlist_the_kill_switch_engages_but_never_resumes(system):
    from state.kill_switch import KillSwitchBoard

    _, _, engine, _ = system
    board = KillSwitchBoard(engine)
    board.engage(by="'alice' via cli", reason="drill")
    app = panel(engine, allowed=("somebody-else",))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("K", "r", "y")
        await pilot.pause(0.5)
    assert board.latest().engaged and board.latest().by == "'alice' via cli"

"""The Agents screen driven with Pilot: without a system, each agent's trail in the seeded run's
log (checked against the raw entries); `?` lists its key; it fits 80×24; and attached to a
running system on Ray, every actor answers live with its restarts, latency and health."""

from __future__ import annotations

import pytest

from core.governor import Governor
from core.human_gate import SimulatedGate
from core.runtime import RayRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.approvers import ApprovalsConfig
from state.db import make_engine
from state.decision_log import DecisionLog, read_entries
from tests.integration.support import market, settings, write_policy
from tests.tui.conftest import seeded_panel
from tests.tui.support import help_text, row_text, visible, wait_for_rows, wait_for_text
from tui.actors import AgentLink
from tui.agents_view import AGENTS
from tui.app import QuorumApp
from tui.store import PanelStore

pytestmark = pytest.mark.anyio

STAGES = {
    "market_intel": {"ProposalCreated"}, "sentiment": {"ProposalCreated"},
    "strategy": {"ProposalCreated"}, "risk": {"RiskAssessed"},
    "reviewer": {"ReviewApproved", "ReviewVetoed", "ReviewEscalated"},
    "treasury": {"PortfolioUpdated"},
    "executor": {"OrderSubmitted", "OrderFilled", "OrderFailed", "OrderCancelled"},
}


async def test_without_a_system_each_agent_shows_its_trail_in_the_log(seeded_run):
    entries = read_entries(seeded_run.engine)
    latest = {agent: [e for e in entries if e.stage in stages][-1]
              for agent, stages in STAGES.items()}
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("H")
        table = await wait_for_rows(pilot, "#agents", at_least=len(AGENTS))
        proposals = await wait_for_rows(pilot, "#proposals", at_least=2)
        rows = {agent: row_text(table, agent) for agent in AGENTS}
        strategies = {key.value: row_text(proposals, key) for key in proposals.rows}
    for agent, entry in latest.items():
        _, status, seen, restarts, latency, error, _, health = rows[agent]
        assert (status, seen) == ("log only", f"{entry.logged_at:%m-%d %H:%M:%S}"), agent
        assert (restarts, latency, error, health) == ("n/a", "n/a", "none", "n/a")
    assert latest["strategy"].decision_id in rows["strategy"][6]
    assert f"{latest['risk'].payload['sized_notional_usd']:,.2f}" in rows["risk"][6]
    assert f"{latest['treasury'].payload['equity_usd']:,.2f}" in rows["treasury"][6]
    assert rows["compute"][2] == "n/a"  # it leaves nothing in the log
    by_strategy = {}
    for entry in entries:
        if entry.stage == "ProposalCreated":
            by_strategy[entry.payload["proposal"]["strategy"]] = entry.decision_id
    assert {name: row[1] for name, row in strategies.items()} == by_strategy
    pending = [e.decision_id for e in entries if e.stage == "ApprovalRequested"][-1]
    assert [row[3] for row in strategies.values() if row[1] == pending] == ["awaiting approval"]


async def test_question_mark_lists_the_agents_key(seeded_run):
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("H", "question_mark")
        await pilot.pause()
        keys = help_text(app)
    assert "Agents" in keys and "Dashboard" in keys and "Approvals" in keys


async def test_the_agents_screen_fits_80_by_24(seeded_run):
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("H")
        table = await wait_for_rows(pilot, "#agents", at_least=len(AGENTS))
        proposals = await wait_for_rows(pilot, "#proposals", at_least=2)
        await pilot.pause()
        for widget in (table, proposals, app.screen.query_one("#source")):
            assert visible(app, widget)
        assert table.max_scroll_y == 0  # every agent in view without scrolling
        assert proposals.max_scroll_y == 0


@pytest.mark.slow
async def test_attached_to_a_ray_system_every_agent_answers_live(tmp_path, db_url, ray_session):
    policy_path = write_policy(tmp_path, auto_max=100_000)
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    runtime = RayRuntime(build_specs(s, data=market(s, bars=120), db_url=db_url, run_id="r"))
    try:
        governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                            decision_log=DecisionLog(engine), human_gate=SimulatedGate(approve=True),
                            run_id="r")
        for tick in range(60):
            governor.step(tick)
        app = QuorumApp(PanelStore(engine, approvers=ApprovalsConfig(tui=("alice",)),
                                   identity="alice"), PolicyEngine.load(policy_path),
                        agents=AgentLink())
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("H")
            table = await wait_for_rows(pilot, "#agents", at_least=len(AGENTS))
            for _ in range(100):
                statuses = [row_text(table, agent)[1] for agent in AGENTS]
                if statuses == ["live"] * len(AGENTS):
                    break
                await pilot.pause(0.1)
            rows = {agent: row_text(table, agent) for agent in AGENTS}
            await pilot.press("D")
            totals = await wait_for_text(pilot, "#totals", "treasury actor")
        portfolio = runtime.call("treasury", "portfolio")
    finally:
        runtime.shutdown()
    for agent, row in rows.items():
        assert row[1] == "live", (agent, row)
        assert row[3] == "0" and row[4].endswith(" ms"), (agent, row)
    assert rows["compute"][7].startswith("kernels ") and "calls=" in rows["compute"][7]
    filled = sum(1 for entry in read_entries(engine) if entry.stage == "OrderFilled")
    assert filled > 0 and f"fills_applied={filled}," in rows["treasury"][7]
    assert f"total {portfolio.equity_usd:,.2f} USD" in totals

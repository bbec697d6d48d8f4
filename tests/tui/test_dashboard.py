"""The Dashboard driven with Pilot over the seeded run's database: every number it shows is the
one the decision log holds (worked out here from the raw entries), `?` lists its key, it fits
80×24, and a database with nothing in it shows n/a rather than invented numbers."""

from __future__ import annotations

import pytest
from textual.widgets import Sparkline

from policies.engine import PolicyEngine
from state.approvers import ApprovalsConfig
from state.db import make_engine
from state.decision_log import read_entries
from tests.tui.conftest import seeded_panel
from tests.tui.support import help_text, shown, visible, wait_for_text
from tui.app import QuorumApp
from tui.store import PanelStore

pytestmark = pytest.mark.anyio


def logged_portfolio(engine) -> dict:
    """What the log says, worked out from the raw entries without the panel's code."""
    entries = read_entries(engine)
    marks: dict[int, float] = {}
    context = None
    targets: dict[str, float] = {}
    equity_at: dict[int, float] = {}
    for entry in entries:
        if entry.stage == "PortfolioUpdated":
            marks[entry.payload["tick"]] = entry.payload["equity_usd"]
        elif entry.stage in ("PolicyAllowed", "PolicyDenied"):
            context = entry.payload["context"]
            p = context["portfolio"]
            equity = p["cash_usd"] + sum(pos["quantity"] * p["prices"][asset]
                                         for asset, pos in p["positions"].items())
            marks[p["tick"]] = equity_at[p["tick"]] = equity
    for entry in entries:
        proposal = entry.payload.get("proposal") or {}
        if entry.stage == "ProposalCreated" and proposal.get("strategy") == "treasury_regime":
            head = proposal["rationale"].split(" (")[0]  # "buy: tactical BTC 6,126 → target 20,157"
            asset = head.split(" → ")[0].split()[-2]
            target_usd = float(head.split("target ")[1].replace(",", ""))
            targets[asset] = target_usd / equity_at[proposal["tick"]]
    proposals = [e.payload for e in entries if e.stage == "ProposalCreated"]
    portfolio = context["portfolio"]
    equity = marks[portfolio["tick"]]
    return {"marks": [marks[t] for t in sorted(marks)], "equity": equity,
            "total": marks[max(marks)], "initial": portfolio["initial_equity_usd"],
            "day_start": context["state"]["day_start_equity_usd"], "portfolio": portfolio,
            "phase": proposals[-1]["snapshot"]["phase"], "mood": proposals[-1]["mood"],
            "targets": targets}


async def test_the_dashboard_shows_what_the_decision_log_holds(seeded_run):
    expected = logged_portfolio(seeded_run.engine)
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("D")
        totals = await wait_for_text(pilot, "#totals", "total ")
        market = shown(app, "#market")
        switch = shown(app, "#switch")
        allocation = shown(app, "#allocation")
        chart = app.screen.query_one("#equity", Sparkline).data
    total, initial = expected["total"], expected["initial"]
    today = expected["equity"] - expected["day_start"]
    assert f"total {total:,.2f} USD" in totals
    assert f"overall {total - initial:+,.2f} ({(total - initial) / initial:+.2%})" in totals
    assert f"PnL today {today:+,.2f} ({today / expected['day_start']:+.2%})" in totals
    assert f"tick {expected['portfolio']['tick']}" in totals
    assert list(chart) == expected["marks"]
    assert f"market phase {expected['phase']}" in market
    assert f"fear/greed {expected['mood']:.0f}" in market
    assert switch.startswith("kill switch ENGAGED by 'bob' via cli")
    portfolio = expected["portfolio"]
    lines = {line.split()[0]: line for line in allocation.splitlines() if line.strip()}
    for asset, position in portfolio["positions"].items():
        value = position["quantity"] * portfolio["prices"][asset]
        share, target = value / expected["equity"], expected["targets"][asset]
        assert lines[asset].split()[1:4] == [f"{share:.1%}", f"{target:.1%}", f"{value:,.2f}"]
    assert f"{portfolio['cash_usd']:,.2f}" in lines["cash"]


async def test_question_mark_lists_the_dashboard_and_agents_keys(seeded_run):
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("D", "question_mark")
        await pilot.pause()
        keys = help_text(app)
    assert "D" in keys and "Dashboard" in keys
    assert "H" in keys and "Agents" in keys


async def test_the_dashboard_fits_80_by_24(seeded_run):
    app = seeded_panel(seeded_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("D")
        await wait_for_text(pilot, "#allocation", "cash (USD)")
        await pilot.pause()
        box = app.screen.query_one("#allocation-box")
        for selector in ("#totals", "#market", "#switch", "#equity", "#allocation-box"):
            assert visible(app, app.screen.query_one(selector)), selector
        assert box.max_scroll_y == 0 and box.max_scroll_x == 0  # every line shows, unwrapped
        assert all(len(line) <= box.content_region.width
                   for line in shown(app, "#allocation").splitlines())


async def test_an_empty_database_shows_n_a_not_numbers(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    app = QuorumApp(PanelStore(engine, approvers=ApprovalsConfig(tui=("alice",)),
                               identity="alice"), PolicyEngine.load(None))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("D")
        totals = await wait_for_text(pilot, "#totals", "total ")
        assert totals.startswith("total n/a USD │ PnL today n/a │ overall n/a")
        assert shown(app, "#market") == "market phase n/a │ fear/greed n/a"
        assert shown(app, "#switch") == "kill switch OFF"
        assert shown(app, "#allocation") == "allocation: n/a (no portfolio logged yet)"

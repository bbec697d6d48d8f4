"""The Quorum control panel: one Textual app, one mode per screen, switched by key.

Approvals (A), Decisions (L), Policy (P), Kill switch (K), Dashboard (D) and Agents (H). It reads
and decides through the shared database (the decision log and the approval queue), so it works
whether or not a system is running; attached to one (``agents``), Dashboard and Agents also ask
its actors, read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import App

from agents.strategies.treasury_regime import TreasuryRegimeConfig
from policies.engine import PolicyEngine
from tui.screens.agents import AgentsScreen
from tui.screens.approvals import ApprovalsScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.decisions import DecisionsScreen
from tui.screens.kill_switch import KillSwitchScreen
from tui.screens.policy import PolicyScreen
from tui.store import PanelStore

if TYPE_CHECKING:  # tui.actors imports ray, which the panel without --address never needs
    from tui.actors import AgentLink


class QuorumApp(App):
    TITLE = "Quorum"
    MODES: ClassVar[dict] = {
        "approvals": ApprovalsScreen, "decisions": DecisionsScreen, "policy": PolicyScreen,
        "kill_switch": KillSwitchScreen, "dashboard": DashboardScreen, "agents": AgentsScreen,
    }
    DEFAULT_MODE = "approvals"
    BINDINGS: ClassVar[list] = [
        ("A", "switch_mode('approvals')", "Approvals"),
        ("L", "switch_mode('decisions')", "Decisions"),
        ("P", "switch_mode('policy')", "Policy"),
        ("K", "switch_mode('kill_switch')", "Kill switch"),
        ("D", "switch_mode('dashboard')", "Dashboard"),
        ("H", "switch_mode('agents')", "Agents"),
        ("question_mark", "show_help_panel", "Keys"),
        ("q", "quit", "Quit"),
    ]

    def __init__(
        self, store: PanelStore, policy: PolicyEngine, *, agents: AgentLink | None = None,
        regime: TreasuryRegimeConfig | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.policy = policy
        self.agents = agents
        """The running system's actors, or None: the database alone."""
        self.regime = regime
        """The treasury regime strategy's config, whose targets the Dashboard draws."""
        self.sub_title = "approver " + str(store.approver) + (" (read-only)" if store.read_only
                                                             else "")

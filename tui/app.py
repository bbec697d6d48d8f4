"""The Quorum control panel: one Textual app, one mode per screen, switched by key.

Built so far: Approvals (A), Decisions (L), Policy (P) and Kill switch (K). It reads and decides through the shared database
(the decision log and the approval queue), so it works whether or not a system is running.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App

from policies.engine import PolicyEngine
from tui.screens.approvals import ApprovalsScreen
from tui.screens.decisions import DecisionsScreen
from tui.screens.kill_switch import KillSwitchScreen
from tui.screens.policy import PolicyScreen
from tui.store import PanelStore


class QuorumApp(App):
    TITLE = "Quorum"
    MODES: ClassVar[dict] = {
        "approvals": ApprovalsScreen, "decisions": DecisionsScreen, "policy": PolicyScreen,
        "kill_switch": KillSwitchScreen,
    }
    DEFAULT_MODE = "approvals"
    BINDINGS: ClassVar[list] = [
        ("A", "switch_mode('approvals')", "Approvals"),
        ("L", "switch_mode('decisions')", "Decisions"),
        ("P", "switch_mode('policy')", "Policy"),
        ("K", "switch_mode('kill_switch')", "Kill switch"),
        ("question_mark", "show_help_panel", "Keys"),
        ("q", "quit", "Quit"),
    ]

    def __init__(self, store: PanelStore, policy: PolicyEngine) -> None:
        super().__init__()
        self.store = store
        self.policy = policy
        self.sub_title = "approver " + str(store.approver) + (" (read-only)" if store.read_only
                                                             else "")

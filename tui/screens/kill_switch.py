"""Kill switch: its state, and one key to engage it (`e`) or resume (`r`), each confirmed and
logged with who did it. A running system obeys from its next tick (the switch lives in the
database); exits that shed risk still run while it is engaged."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from core.errors import ApprovalError
from state.kill_switch import SwitchCommand
from tui.screens.confirm import Confirm

REFRESH_S = 1.0


class KillSwitchScreen(Screen):
    CSS_PATH = "kill_switch.tcss"
    BINDINGS: ClassVar[list] = [("e", "engage", "Engage"), ("r", "resume", "Resume")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("kill switch: reading…", markup=False, id="state")
        yield Static("e engages (anyone may stop everything); r resumes (approvers only). "
                     "Both ask first and are logged with who did it.", id="help")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_state()
        self.set_interval(REFRESH_S, self.refresh_state)

    @work(thread=True, exclusive=True, group="switch")
    def refresh_state(self) -> None:
        latest = self.app.store.switch_state()
        self.app.call_from_thread(self._show, latest)

    def _show(self, latest: SwitchCommand | None) -> None:
        state = self.query_one("#state", Static)
        engaged = latest is not None and latest.engaged
        if engaged:
            state.update(f"kill switch ENGAGED by {latest.by} at {latest.at:%Y-%m-%d %H:%M:%SZ}: "
                         f"{latest.reason}")
        elif latest is not None:
            state.update(f"kill switch OFF (resumed by {latest.by} at "
                         f"{latest.at:%Y-%m-%d %H:%M:%SZ})")
        else:
            state.update("kill switch OFF (never engaged)")
        state.set_class(engaged, "engaged")

    def action_engage(self) -> None:
        self._confirm("Engage the kill switch: refuse every new entry?", engage=True)

    def action_resume(self) -> None:
        self._confirm("Resume trading?", engage=False)

    def _confirm(self, question: str, *, engage: bool) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._flip(engage)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="flip")
    def _flip(self, engage: bool) -> None:
        store = self.app.store
        try:
            if engage:
                store.engage("engaged from the control panel")
            else:
                store.resume("resumed from the control panel")
        except ApprovalError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=8,
                                       markup=False)
        self.app.call_from_thread(self.refresh_state)

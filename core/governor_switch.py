"""The governor's kill switch: engaged and resumed from any channel, and by the reconciler.

The switch board (state/kill_switch.py) is shared with the CLI, the control panel and Telegram;
the governor reads what changed on it at the start of every tick, and a run started while it is
engaged starts engaged. Outside paper mode the treasury is reconciled with the chain every tick,
and a mismatch engages the switch for every channel. Each change is a decision log entry.
"""

from __future__ import annotations

from core.logging import get_logger
from core.models import PortfolioState, Stage
from core.wiring import Runtime
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard, SwitchCommand

log = get_logger("quorum.governor")


class KillSwitchControl:
    """Mixed into the Governor, which sets these attributes and writes ``_record``."""

    rt: Runtime
    log: DecisionLog
    kill_switch_engaged: bool
    switch_board: KillSwitchBoard | None
    _switch_seen: int

    def _record(self, decision_id: str, stage: Stage, payload: object, *,
                outcome: str | None = None) -> None:
        raise NotImplementedError("the Governor appends to its decision log")

    def _reconcile(self, portfolio: PortfolioState) -> None:
        """Treasury against the chain; a mismatch is an alert and engages the kill switch."""
        mismatches = self.rt.call("executor", "reconcile", portfolio)
        if not mismatches:
            return
        reason = "treasury differs from the chain: " + "; ".join(mismatches)
        log.error("treasury.reconcile_mismatch", tick=portfolio.tick, mismatches=mismatches)
        self._record(f"reconcile-{portfolio.tick}", Stage.TREASURY_MISMATCH, {"mismatches": mismatches},
                     outcome="mismatch")
        if not self.kill_switch_engaged:
            if self.switch_board is not None:  # every channel sees it, and it outlives the run
                self._switch_seen = self.switch_board.engage(by="reconciler", reason=reason).command_id
            self.engage_kill_switch(by="reconciler", reason=reason)

    def engage_kill_switch(self, *, by: str, reason: str) -> None:
        self.kill_switch_engaged = True
        self.log.append("kill-switch", "KillSwitchEngaged", {"by": by, "reason": reason})
        self.log.flush()

    def resume(self, *, by: str) -> None:
        self.kill_switch_engaged = False
        self.log.append("kill-switch", "KillSwitchResumed", {"by": by})
        self.log.flush()

    def _apply_switch(self, command: SwitchCommand) -> None:
        self._switch_seen = command.command_id
        if command.engaged and not self.kill_switch_engaged:
            self.engage_kill_switch(by=command.by, reason=command.reason)
        elif not command.engaged and self.kill_switch_engaged:
            self.resume(by=command.by)

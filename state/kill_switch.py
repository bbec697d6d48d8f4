"""The kill switch as the database holds it: every engage and resume, in order.

Engaging is open to anyone who can reach the database (stopping is always safe); resuming is
for the people on an approvals allowlist, checked by the channel before calling ``resume``.
A running governor polls ``since`` every tick; a run that starts while the switch is engaged
starts engaged (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, insert, select

from core.errors import OperationalError
from state.tables import KillSwitchRow, utc_now

_TABLE = KillSwitchRow.__table__
_COLUMNS = _TABLE.c


@dataclass(frozen=True)
class SwitchCommand:
    command_id: int
    action: Literal["engage", "resume"]
    by: str
    reason: str
    at: datetime

    @property
    def engaged(self) -> bool:
        return self.action == "engage"


class KillSwitchBoard:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        _TABLE.create(engine, checkfirst=True)

    def engage(self, *, by: str, reason: str) -> SwitchCommand:
        return self._write("engage", by=by, reason=reason)

    def resume(self, *, by: str, reason: str = "") -> SwitchCommand:
        return self._write("resume", by=by, reason=reason)

    def latest(self) -> SwitchCommand | None:
        stmt = select(_TABLE).order_by(_COLUMNS.command_id.desc()).limit(1)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _command(row)

    def since(self, command_id: int) -> list[SwitchCommand]:
        """Commands written after ``command_id``, oldest first."""
        stmt = select(_TABLE).where(_COLUMNS.command_id > command_id).order_by(_COLUMNS.command_id)
        with self._engine.connect() as conn:
            return [_command(row) for row in conn.execute(stmt)]

    def _write(self, action: str, *, by: str, reason: str) -> SwitchCommand:
        if not by.strip():
            raise OperationalError("the kill switch needs to know who is acting")
        with self._engine.begin() as conn:
            result = conn.execute(insert(_TABLE).values(action=action, by=by, reason=reason,
                                                        at=utc_now()))
            command_id = result.inserted_primary_key[0]
        return SwitchCommand(command_id, action, by, reason, utc_now())


def _command(row) -> SwitchCommand:
    return SwitchCommand(row.command_id, row.action, row.by, row.reason, row.at)

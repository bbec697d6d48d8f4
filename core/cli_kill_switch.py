"""`quorum kill-switch engage|resume|status`: stop every new entry of a running system, from
anywhere that reaches its database. Engaging is open to anyone (stopping is always safe);
resuming needs a person on the config's [approvals] cli allowlist. Both are logged with who."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli_state import DbOption
from core.config import Settings
from state.approvers import Approver, Channel, os_user
from state.db import default_db_url, make_engine
from state.kill_switch import KillSwitchBoard

kill_switch_app = typer.Typer(help="Engage or resume the kill switch of a running system.",
                              no_args_is_help=True)

AsOption = Annotated[str | None, typer.Option("--as", help="Who you are (default: your OS user)")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML with the approvals allowlists")
]


def _board(db: str | None) -> KillSwitchBoard:
    return KillSwitchBoard(make_engine(db or default_db_url()))


@kill_switch_app.command("engage")
def engage(
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in the decision log")],
    as_: AsOption = None,
    db: DbOption = None,
) -> None:
    """Engage: a running governor refuses every new entry from its next tick; exits still run."""
    who = str(Approver(Channel.CLI, as_ or os_user() or "unknown"))
    command = _board(db).engage(by=who, reason=reason)
    typer.echo(f"kill switch ENGAGED by {command.by}: {command.reason}")


@kill_switch_app.command("resume")
def resume(
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe again")] = "",
    as_: AsOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Resume trading; only a person on the [approvals] cli allowlist may."""
    approver = Approver(Channel.CLI, as_ or os_user() or "unknown")
    if Settings.load(config).approvals.person(approver) is None:
        typer.echo(f"error: {approver} may not resume (not on the [approvals] cli allowlist)",
                   err=True)
        raise typer.Exit(2)
    command = _board(db).resume(by=str(approver), reason=reason)
    typer.echo(f"kill switch RESUMED by {command.by}")


@kill_switch_app.command("status")
def status(db: DbOption = None) -> None:
    """Whether the kill switch is engaged, since when and by whom."""
    latest = _board(db).latest()
    if latest is None or not latest.engaged:
        since = f" (resumed by {latest.by} at {latest.at:%Y-%m-%d %H:%M:%SZ})" if latest else ""
        typer.echo(f"kill switch off{since}")
    else:
        typer.echo(f"kill switch ENGAGED by {latest.by} at {latest.at:%Y-%m-%d %H:%M:%SZ}: "
                   f"{latest.reason}")

"""`quorum kill-switch engage|resume|status`: stop every new entry of a running system, from
anywhere that reaches its database. Engaging is open to anyone (stopping is always safe);
resuming needs a person on the config's [approvals] cli allowlist. Both are kept with who and
why in the database's kill_switch table; a running governor logs each one it obeys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli_render import one_line
from core.cli_state import DbOption
from core.config import Settings
from core.errors import ApprovalError
from state.approvers import Approver, Channel, os_user
from state.db import default_db_url, open_existing
from state.kill_switch import KillSwitchBoard

kill_switch_app = typer.Typer(
    rich_markup_mode=None,  # help texts are plain: Rich read "[approvals]" as markup
    help="Engage or resume the kill switch of a running system.",
    no_args_is_help=True,
)

AsOption = Annotated[str | None, typer.Option("--as", help="Who you are (default: your OS user)")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML with the approvals allowlists")
]


def _board(db: str | None) -> KillSwitchBoard:
    """The board in the running system's database: never a new one, so a mistyped --db is an
    error, not a switch engaged where no run will ever look."""
    return KillSwitchBoard(open_existing(db or default_db_url()))


def _who(as_: str | None) -> Approver:
    name = as_ if as_ is not None else os_user() or "unknown"
    if not name.strip():
        raise ApprovalError("--as is blank: the kill switch records who acted")
    return Approver(Channel.CLI, name.strip())


@kill_switch_app.command("engage")
def engage(
    reason: Annotated[str, typer.Option("--reason", help="Why: kept with the switch, and in the decision log of a run that obeys it")],
    as_: AsOption = None,
    db: DbOption = None,
) -> None:
    """Engage: a running governor refuses every new entry from its next tick; exits still run."""
    command = _board(db).engage(by=str(_who(as_)), reason=reason)
    typer.echo(f"kill switch ENGAGED by {one_line(command.by)}: {one_line(command.reason)}")


@kill_switch_app.command("resume")
def resume(
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe again")] = "",
    as_: AsOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Resume trading; only a person on the [approvals] cli allowlist may."""
    approver = _who(as_)
    if Settings.load(config).approvals.person(approver) is None:
        typer.echo(f"error: {approver} may not resume (not on the [approvals] cli allowlist)",
                   err=True)
        raise typer.Exit(2)
    command = _board(db).resume(by=str(approver), reason=reason)
    typer.echo(f"kill switch RESUMED by {one_line(command.by)}")


@kill_switch_app.command("status")
def status(db: DbOption = None) -> None:
    """Whether the kill switch is engaged, since when and by whom."""
    latest = _board(db).latest()
    if latest is None or not latest.engaged:
        since = (f" (resumed by {one_line(latest.by)} at {latest.at:%Y-%m-%d %H:%M:%SZ})"
                 if latest else "")
        typer.echo(f"kill switch off{since}")
    else:
        typer.echo(f"kill switch ENGAGED by {one_line(latest.by)} at "
                   f"{latest.at:%Y-%m-%d %H:%M:%SZ}: {one_line(latest.reason)}")

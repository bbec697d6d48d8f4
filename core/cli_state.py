"""`quorum approvals ...` and `quorum audit ...`: the commands that read and decide on state.

The approvals commands are the first channel onto the one persisted approval queue; the TUI and
Telegram will use the same queue API and the same allowlist check inside it. Approve and reject
act as ``--as NAME`` (default: the OS user), checked against the config's ``[approvals] cli``
list. That name is claimed, not proven: whoever can write the database can type any name, so the
database file's permissions are the real boundary on this channel. These commands open an
existing database only: they must never create one (a mistyped --db is an error, not a new empty
log that verifies).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from core.cli_render import one_line
from core.config import Settings
from core.errors import ApprovalError
from core.models import ApprovalRequest, ApprovalStatus
from state.approvals import ApprovalQueue, ApprovalRefusal
from state.approvers import Approver, Channel, os_user
from state.db import default_db_url, mask_url, open_existing
from state.decision_log import verify


def _given_db(value: str | None) -> str | None:
    """An empty --db (an unset ``$VAR`` in ``--db "$VAR"``) would mean the default database."""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty (leave --db out for the default database)")
    return value


def _head_hash(value: str | None) -> str | None:
    """A head hash as `quorum audit verify` prints it; case does not matter, anything else is a
    mistyped hash, not a log cut short."""
    if value is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise typer.BadParameter(f"{value!r} is not a head hash (64 hex digits, as "
                                 "`quorum audit verify` prints it)")
    return value.strip().lower()


HeadOption = Annotated[
    str | None,
    typer.Option("--head", callback=_head_hash,
                 help="Head hash kept outside the database or file, to catch a cut, added or rewritten tail"),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", callback=_given_db,
                 help="Database URL or SQLite file path (default: quorum.db in the user data dir, or $QUORUM_DB)"),
]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Who you are: a name on the config's approvals.cli list (default: your OS user name)"),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config TOML whose approvals.cli list says who may decide (default: only your OS user)"),
]

approvals_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                            help="List and decide requests waiting for people.")
audit_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                        help="Check the hash-chained decision log.")


def _queue(db: str | None, config: Path | None = None) -> ApprovalQueue:
    approvers = Settings.load(config).approvals
    return ApprovalQueue(open_existing(db or default_db_url()), approvers=approvers)


def _line(r: ApprovalRequest, refused: int = 0) -> str:
    o = r.order
    return (
        f"{r.request_id}  {r.status.value:<8} {r.tier.value:<6} {o.side.value:<4} {o.asset:<6} "
        f"{o.notional_usd:>12,.2f}  approvals {len(r.approvals)}/{r.required_approvals}  "
        f"expires {r.expires_at:%Y-%m-%d %H:%M:%S}Z  decision {r.decision_id}"
        + (f"  refused attempts {refused}" if refused else "")
    )


def _refusal_line(refusal: ApprovalRefusal) -> str:
    return one_line(f"{refusal} at {refusal.refused_at:%Y-%m-%d %H:%M:%S}Z: {refusal.reason}")


@approvals_app.command("list")
def approvals_list(
    status: Annotated[ApprovalStatus | None, typer.Option(help="Only requests with this status [default: pending]")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every request, whatever its status")] = False,
    db: DbOption = None,
) -> None:
    """List approval requests (pending ones by default), newest first, with refused attempts."""
    if all_ and status is not None:
        typer.echo("error: --all lists every status; leave out --status", err=True)
        raise typer.Exit(2)
    queue = _queue(db)
    queue.expire_due()
    wanted = None if all_ else status or ApprovalStatus.PENDING
    requests = queue.list(wanted)
    if not requests:
        typer.echo("no requests" + (f" with status {wanted.value}" if wanted else ""))
    refused: dict[str, int] = {}
    for refusal in queue.refusals(r.request_id for r in requests):
        refused[refusal.request_id] = refused.get(refusal.request_id, 0) + 1
    for request in requests:
        typer.echo(_line(request, refused.get(request.request_id, 0)))


@approvals_app.command("show")
def approvals_show(request_id: str, db: DbOption = None) -> None:
    """Show one request with the exact order it binds and any refused attempts on it."""
    queue = _queue(db)
    queue.expire_due()  # as `list` does: a request past its expiry is expired, not pending
    r = queue.get(request_id)
    typer.echo(_line(r))
    typer.echo(f"  payload hash  {r.payload_hash}")
    typer.echo(f"  order         {r.order.model_dump_json()}")
    typer.echo(f"  approvals     {', '.join(r.approvals) or 'none'}")
    if r.decided_by:
        typer.echo(f"  decided by    {one_line(r.decided_by)} at {r.decided_at}  "
                   f"{one_line(r.reason or '')}".rstrip())
    for refusal in queue.refusals([request_id]):
        typer.echo(f"  {_refusal_line(refusal)}")


@approvals_app.command("approve")
def approvals_approve(
    request_id: str, as_: AsOption = None, config: ConfigOption = None, db: DbOption = None
) -> None:
    """Approve a pending request (refused if you are not on the cli allowlist, or it expired, was already decided or its order no longer matches its payload hash)."""
    r = _queue(db, config).approve(request_id, approver=_approver(as_))
    typer.echo(f"{r.request_id}: {r.status.value} ({len(r.approvals)}/{r.required_approvals} approvals)")


@approvals_app.command("reject")
def approvals_reject(
    request_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the decision log")] = "",
    as_: AsOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Reject a pending request (refused if you are not on the cli allowlist)."""
    r = _queue(db, config).reject(request_id, approver=_approver(as_), reason=reason)
    typer.echo(f"{r.request_id}: {r.status.value}")


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    head: HeadOption = None,
) -> None:
    """Walk the whole decision log; exit 0 with `OK <n> entries head=<hash>`, or 1 naming the first bad entry."""
    url = db or default_db_url()
    result = verify(open_existing(url), expected_head_hash=head)
    if result.ok:
        typer.echo(f"OK {result.count} entries head={result.head_hash}")
        return
    typer.echo(f"FAIL {mask_url(url)}: first bad entry {result.first_bad_index}: {result.problem}")
    raise typer.Exit(1)


def _approver(as_: str | None) -> Approver:
    """``--as`` as given, else the OS user: a claim the cli allowlist is checked against."""
    identity = as_ if as_ is not None else os_user()
    if identity is None:
        raise ApprovalError("cannot tell your OS user name; pass --as NAME")
    return Approver(Channel.CLI, identity)

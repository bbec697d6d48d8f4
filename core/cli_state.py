"""`quorum approvals ...` and `quorum audit ...`: the commands that read and decide on state.

The approvals commands are the first channel onto the one persisted approval queue; the TUI and
Telegram will use the same queue API. These commands open an existing database only: they must
never create one (a mistyped --db is an error, not a new empty log that verifies).
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from core.models import ApprovalRequest, ApprovalStatus
from state.approvals import ApprovalQueue
from state.db import default_db_url, mask_url, open_existing
from state.decision_log import verify

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file path (default: quorum.db in the user data dir, or $QUORUM_DB)"),
]
AsOption = Annotated[
    str | None, typer.Option("--as", help="Approver identity (default: cli:<your user name>)")
]

approvals_app = typer.Typer(help="List and decide requests waiting for people.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the hash-chained decision log.", no_args_is_help=True)


def _queue(db: str | None) -> ApprovalQueue:
    return ApprovalQueue(open_existing(db or default_db_url()))


def _line(r: ApprovalRequest) -> str:
    o = r.order
    return (
        f"{r.request_id}  {r.status.value:<8} {r.tier.value:<6} {o.side.value:<4} {o.asset:<6} "
        f"{o.notional_usd:>12,.2f}  approvals {len(r.approvals)}/{r.required_approvals}  "
        f"expires {r.expires_at:%Y-%m-%d %H:%M:%S}Z  decision {r.decision_id}"
    )


@approvals_app.command("list")
def approvals_list(
    status: Annotated[ApprovalStatus, typer.Option(help="Only requests with this status")] = ApprovalStatus.PENDING,
    all_: Annotated[bool, typer.Option("--all", help="Every request, whatever its status")] = False,
    db: DbOption = None,
) -> None:
    """List approval requests (pending ones by default), newest first."""
    queue = _queue(db)
    queue.expire_due()
    wanted = None if all_ else status
    requests = queue.list(wanted)
    if not requests:
        typer.echo("no requests" + (f" with status {wanted.value}" if wanted else ""))
    for request in requests:
        typer.echo(_line(request))


@approvals_app.command("show")
def approvals_show(request_id: str, db: DbOption = None) -> None:
    """Show one request with the exact order it binds."""
    r = _queue(db).get(request_id)
    typer.echo(_line(r))
    typer.echo(f"  payload hash  {r.payload_hash}")
    typer.echo(f"  order         {r.order.model_dump_json()}")
    typer.echo(f"  approvals     {', '.join(r.approvals) or 'none'}")
    if r.decided_by:
        typer.echo(f"  decided by    {r.decided_by} at {r.decided_at}  {r.reason or ''}".rstrip())


@approvals_app.command("approve")
def approvals_approve(request_id: str, as_: AsOption = None, db: DbOption = None) -> None:
    """Approve a pending request (refused if expired, already decided or its payload changed)."""
    r = _queue(db).approve(request_id, approver=as_ or _whoami())
    typer.echo(f"{r.request_id}: {r.status.value} ({len(r.approvals)}/{r.required_approvals} approvals)")


@approvals_app.command("reject")
def approvals_reject(
    request_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the decision log")] = "",
    as_: AsOption = None,
    db: DbOption = None,
) -> None:
    """Reject a pending request."""
    r = _queue(db).reject(request_id, approver=as_ or _whoami(), reason=reason)
    typer.echo(f"{r.request_id}: {r.status.value}")


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    head: Annotated[str | None, typer.Option(help="Head hash kept outside the database, to catch cut or added tails")] = None,
) -> None:
    """Walk the whole decision log; exit 0 with `OK <n> entries head=<hash>`, or 1 naming the first bad entry."""
    url = db or default_db_url()
    result = verify(open_existing(url), expected_head_hash=head)
    if result.ok:
        typer.echo(f"OK {result.count} entries head={result.head_hash}")
        return
    typer.echo(f"FAIL {mask_url(url)}: first bad entry {result.first_bad_index}: {result.problem}")
    raise typer.Exit(1)


def _whoami() -> str:
    return f"cli:{getpass.getuser()}"

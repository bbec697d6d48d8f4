"""`quorum audit export|verify-export` and `quorum decisions list|show`: reading the decision log.

The export and decisions commands open an existing database only and never write to it (a
mistyped --db is an error, not a new empty log). Export writes only its --out file, and only a
whole, verified one. The JSONL format is documented in state/audit_export.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli_state import DbOption, HeadOption, audit_app
from core.decision_trace import summary_line, trace_lines
from state.audit_export import export_jsonl, verify_export
from state.db import default_db_url, mask_url, open_existing, sqlite_path
from state.decision_log import latest_decision_ids, read_entries

decisions_app = typer.Typer(rich_markup_mode=None,
    help="Read decisions from the decision log: a list, or one decision's whole trace.",
    no_args_is_help=True,
)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write: one entry per line, then the head line")],
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists")] = False,
    db: DbOption = None,
) -> None:
    """Export every entry as JSONL, checking the chain on the way; prints the head hash.

    Each line is an entry's canonical JSON {decision_id, hash, index, logged_at, payload,
    prev_hash, stage}; the last line is {"count": N, "head_hash": H}. A log that does not
    verify is not exported (exit 1, nothing written).
    """
    _check_out(out, force=force)
    url = db or default_db_url()
    store = sqlite_path(url)
    if out.exists() and store is not None and any(
            out.resolve() == Path(f"{store}{end}").resolve() for end in ("", "-wal", "-shm")):
        _fail(f"--out {out}: is the database being exported")
    engine = open_existing(url)
    try:
        result = export_jsonl(engine, out)
    finally:
        engine.dispose()
    if not result.ok:
        typer.echo(f"FAIL {mask_url(url)}: first bad entry {result.first_bad_index}: "
                   f"{result.problem} (nothing exported)")
        raise typer.Exit(1)
    typer.echo(f"OK {result.count} entries head={result.head_hash} written to {out}")


@audit_app.command("verify-export")
def audit_verify_export(
    file: Annotated[Path, typer.Argument(help="A file written by `quorum audit export`")],
    head: HeadOption = None,
) -> None:
    """Recompute an export's chain: `OK <n> entries head=<hash>`, or exit 1 naming the first bad entry."""
    if not file.is_file():
        _fail(f"{file}: no such file")
    result = verify_export(file, expected_head_hash=head)
    if result.ok:
        typer.echo(f"OK {result.count} entries head={result.head_hash}")
        return
    typer.echo(f"FAIL {file}: first bad entry {result.first_bad_index}: {result.problem}")
    raise typer.Exit(1)


@decisions_app.command("list")
def decisions_list(
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many decisions, newest first")] = 20,
    db: DbOption = None,
) -> None:
    """List the decisions logged last: id, first entry's time, what was proposed, outcome."""
    engine = open_existing(db or default_db_url())
    try:
        traces = [read_entries(engine, d) for d in latest_decision_ids(engine, limit=limit)]
    finally:
        engine.dispose()
    if not traces:
        typer.echo("the decision log is empty")
    for entries in traces:
        typer.echo(summary_line(entries))


@decisions_app.command("show")
def decisions_show(
    decision_id: Annotated[str, typer.Argument(help="A decision id, as `quorum decisions list` prints it")],
    db: DbOption = None,
) -> None:
    """Print one decision's whole trace in the order it was logged, then its outcome."""
    url = db or default_db_url()
    engine = open_existing(url)
    try:
        entries = read_entries(engine, decision_id)
    finally:
        engine.dispose()
    if not entries:
        _fail(f"no decision {decision_id!r} in the decision log at {mask_url(url)} "
              "(`quorum decisions list` shows the latest ids)")
    for line in trace_lines(entries):
        typer.echo(line)


def _check_out(out: Path, *, force: bool) -> None:
    if not out.parent.is_dir():
        _fail(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():
        _fail(f"--out {out}: is a folder, expected a file name")
    if out.exists() and not force:
        _fail(f"--out {out} exists; pass --force to overwrite it")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)

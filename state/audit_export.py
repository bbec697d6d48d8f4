"""A decision log as a JSONL file anyone can check without Quorum's database.

Line ``i + 1`` is entry ``i``: the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"decision_id", "hash", "index", "logged_at", "payload", "prev_hash", "stage"}``, where
``hash`` is the SHA-256 of that same object without ``hash``, and ``prev_hash`` the previous
line's ``hash`` (64 zeros for entry 0). The last line is the head: ``{"count": N, "head_hash": H}``.
A head line in the file catches a cut or extended tail only if the file was not rewritten as a
whole; the head hash kept somewhere else (``--head``) catches that too.

Export checks the chain while it writes and leaves no file when it breaks. Nothing here writes
to the database.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from core.canonical import canonical_bytes
from state.log_chain import ChainWalk, LogRow, VerifyResult, stored_rows
from state.tables import as_utc

ENTRY_KEYS = frozenset(("decision_id", "hash", "index", "logged_at", "payload", "prev_hash", "stage"))
HEAD_KEYS = frozenset(("count", "head_hash"))
_ENTRY_LINE = (
    b'{"decision_id":%b,"hash":%b,"index":%d,"logged_at":%b,"payload":%b,"prev_hash":%b,'
    b'"stage":%b}\n'
)
_text = orjson.dumps  # a str as JSON: the same bytes as the canonical encoder's


def export_jsonl(engine: Engine, out: Path) -> VerifyResult:
    """Write every entry, checked on the way, then the head line; no file if the chain breaks.

    The file is written beside ``out`` and renamed into place, so ``out`` is either a whole,
    verified export or untouched.
    """
    chain = ChainWalk()
    partial = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("xb") as file:  # a new file, with the permissions the umask gives
            for row in stored_rows(engine):
                chain.add(row)
                if chain.first_bad_index is not None:
                    break
                file.write(entry_line(row))
            result = chain.result()
            file.write(canonical_bytes({"count": result.count, "head_hash": result.head_hash}))
            file.write(b"\n")
        if result.ok:
            os.replace(partial, out)
        return result
    finally:
        partial.unlink(missing_ok=True)


def entry_line(row: Any) -> bytes:
    """One verified stored row as its export line (the stored payload text is already canonical)."""
    return _ENTRY_LINE % (
        _text(row.decision_id),
        _text(row.hash),
        row.index,
        _text(as_utc(row.logged_at).isoformat()),
        row.payload_json.encode("utf-8"),
        _text(row.prev_hash),
        _text(row.stage),
    )


def verify_export(path: Path, *, expected_head_hash: str | None = None) -> VerifyResult:
    """Recompute the chain of an export file and report the first entry that does not fit.

    The file's own head line is the expected head unless ``expected_head_hash`` (kept
    elsewhere) is given; then the head line must say the same.
    """
    head = _parse(_last_line(path))
    head = head if _is_head(head) else None
    chain = ChainWalk(expected_head_hash=expected_head_hash or (head or {}).get("head_hash"))
    head_at = None
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            if head_at is not None:
                chain.fail(chain.next_index, f"line {number}: a line after the head line")
                break
            record = _parse(line)
            if _is_head(record):
                head_at = number
                continue
            row = _row(record)
            if row is None:
                chain.fail(chain.next_index, f"line {number}: not an entry of an export (valid "
                                             f"JSON with the keys {', '.join(sorted(ENTRY_KEYS))})")
                break
            chain.add(row)
    _check_head_line(chain, head, expected_head_hash)
    return chain.result()


def _check_head_line(chain: ChainWalk, head: dict | None, expected_head_hash: str | None) -> None:
    """Breaks only the head line shows; a tail that misses the expected head is ``result``'s."""
    if head is None:
        chain.fail(chain.next_index, "the file does not end with a head line "
                                     '{"count": N, "head_hash": H}: it was cut short')
    elif head["head_hash"] != chain.head_hash:
        if expected_head_hash is not None and chain.head_hash == expected_head_hash:
            chain.fail(chain.count, f"the head line says {head['head_hash'][:16]}…, but the "
                                    "entries end at the expected head: the head line was rewritten")
    elif head["count"] != chain.count:
        chain.fail(chain.count, f"the head line says {head['count']} entries, the file holds "
                                f"{chain.count}")


def _last_line(path: Path, block: int = 4096) -> bytes:
    """The file's last non-empty line, read from the end (an export can be large)."""
    with path.open("rb") as file:
        position = file.seek(0, os.SEEK_END)
        tail = b""
        while position > 0:
            step = min(block, position)
            position -= step
            file.seek(position)
            tail = file.read(step) + tail
            lines = tail.rstrip(b"\r\n").rsplit(b"\n", 1)
            if len(lines) == 2:
                return lines[1]
        return tail.rstrip(b"\r\n")


def _parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _is_head(record: Any) -> bool:
    return (
        isinstance(record, dict) and record.keys() == HEAD_KEYS
        and type(record["count"]) is int and isinstance(record["head_hash"], str)
    )


_TEXT_FIELDS = ("decision_id", "stage", "logged_at", "prev_hash", "hash")


def _row(record: Any) -> LogRow | None:
    """An entry line as the row it was exported from; None if it is not shaped like one."""
    if not isinstance(record, dict) or record.keys() != ENTRY_KEYS:
        return None
    if type(record["index"]) is not int or not isinstance(record["payload"], dict):
        return None
    if not all(isinstance(record[field], str) for field in _TEXT_FIELDS):
        return None
    try:
        payload_json = canonical_bytes(record["payload"]).decode("utf-8")
    except (TypeError, ValueError):  # NaN and the like: the walk names the entry
        payload_json = json.dumps(record["payload"])
    return LogRow(record["index"], record["decision_id"], record["stage"], record["logged_at"],
                  payload_json, record["prev_hash"], record["hash"])

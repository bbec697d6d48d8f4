"""Canonical JSON: the one byte form that hashes in the decision log and approvals are taken of.

Sorted keys, no insignificant white space, UTF-8, datetimes as ISO 8601. Non-finite floats are
refused, because they have no JSON form and two encoders would disagree on them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def to_jsonable(value: Any) -> Any:
    """Plain JSON-able data from a pydantic model (or data already plain)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return json.dumps(
        to_jsonable(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    ).encode("utf-8")


def sha256_hex(value: Any) -> str:
    """SHA-256 (hex) of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()

"""Canonical JSON: the one byte form that hashes in the decision log and approvals are taken of.

Sorted keys, no insignificant white space, UTF-8, datetimes as ISO 8601. Non-finite floats are
refused, because they have no JSON form and two encoders would disagree on them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic_core import to_jsonable_python


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from models, dataclasses, datetimes and enums, nested at any depth.

    A type with no JSON form raises instead of being stringified: a hash must never cover a repr.
    """
    return to_jsonable_python(value)


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return json.dumps(
        to_jsonable(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(value: Any) -> str:
    """SHA-256 (hex) of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()

"""Canonical JSON: the one byte form that hashes in the decision log and approvals are taken of.

Sorted keys, no insignificant white space, UTF-8, datetimes as ISO 8601 (UTC as ``Z``), enums as
their values, floats as Python's shortest round-trip ``repr``. Non-finite floats are refused,
because they have no JSON form and two encoders would disagree on them.

The definition is ``reference_canonical_bytes``: pydantic turns models, datetimes and enums into
plain data, the standard library's ``json`` writes it. What callers get is written by ``orjson``
(pydantic still writing what orjson does not know), the same bytes several times faster, except
for floats below 1e-4 or in exponent form (Python writes ``1e-05``, ``1e-07`` and ``1e+16``;
orjson ``0.00001``, ``1e-7`` and, by version, ``1e16`` or ``1e+16``), integers beyond 64 bits
and non-finite floats. Output that may hold one of those is written by the reference instead,
so the canonical bytes never depend on which path wrote them, nor on orjson's version. This
module must never return bytes that differ from the reference's.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as time_of_day
from enum import Enum
from typing import Any

import orjson
from pydantic_core import to_json, to_jsonable_python

_DATETIME_PROBES = (
    datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2024, 3, 1, 12, 0, 0, 120000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 3, 1, 12, 0, 0, 5),
    date(2024, 3, 1),
    time_of_day(1, 2, 3, 4),
)


def _orjson_options() -> int:
    """Sorted keys, UTC as ``Z``. Datetimes, dates and times are written by orjson itself when
    it writes them as pydantic does (checked here, on the installed versions), else handed to
    pydantic with dataclasses and whatever orjson does not know. Enums and str, int, dict and
    list subclasses orjson writes as their plain values, as pydantic does (tests/state pin it)."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS
    if any(orjson.dumps(p, option=options) != to_json(p) for p in _DATETIME_PROBES):
        options |= orjson.OPT_PASSTHROUGH_DATETIME
    return options


_ORJSON_OPTIONS = _orjson_options()
_EXPONENT_HINT = re.compile(rb"e[-+\d]")
_exponent_hint = _EXPONENT_HINT.search
_TINY_HINT = re.compile(rb"0\.0000")
_tiny_hint = _TINY_HINT.search
_null_hint = re.compile(rb"null").search  # how orjson writes None, NaN and the infinities
_DIGITS_AND_POINT = frozenset(b"0123456789.")
_BEFORE_A_VALUE = frozenset(b":,[")
_MINUS = ord("-")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from models, dataclasses, datetimes and enums, nested at any depth.

    A type with no JSON form raises instead of being stringified: a hash must never cover a repr.
    """
    return to_jsonable_python(value)


def reference_canonical_bytes(value: Any) -> bytes:
    """The canonical bytes by definition: slow, and what ``canonical_bytes`` must equal."""
    return json.dumps(
        to_jsonable(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    made_by_pydantic: list[Any] = []

    def plain(obj: Any) -> Any:  # orjson's default: models, dataclasses, decimals, sets, ...
        made = to_jsonable_python(obj)
        made_by_pydantic.append(made)
        return made

    try:
        data = orjson.dumps(value, default=plain, option=_ORJSON_OPTIONS)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, a non-str key, ...
        return reference_canonical_bytes(value)
    if (_exponent_hint(data) or _tiny_hint(data)) and _float_forms_may_differ(data):
        return reference_canonical_bytes(value)
    # orjson writes NaN and infinities as null, where the reference raises.
    if _null_hint(data) and (_has_non_finite_float(value) or _spells_non_finite(made_by_pydantic)):
        return reference_canonical_bytes(value)  # which raises: a hash of NaN must not exist
    return data


def _float_forms_may_differ(data: bytes) -> bool:
    """True if ``data`` may hold a number in exponent form or below 1e-4.

    There orjson and ``repr`` may write a float differently. A number starts the document or
    follows ``:``, ``,`` or ``[`` (compact JSON); text in a string that looks like one (``":1e5"``)
    only costs the reference's time, never different bytes. Each scan is led by a literal, so
    the common case (hex ids, words with ``e-``) costs little; callers look first with
    ``_exponent_hint`` and ``_tiny_hint``, one scan each.
    """
    for match in _EXPONENT_HINT.finditer(data):
        exponent_at = mantissa_at = match.start()
        while mantissa_at and data[mantissa_at - 1] in _DIGITS_AND_POINT:
            mantissa_at -= 1
        if mantissa_at < exponent_at and _starts_a_value(data, mantissa_at):
            return True
    return any(_starts_a_value(data, match.start()) for match in _TINY_HINT.finditer(data))


def _starts_a_value(data: bytes, at: int) -> bool:
    """True if a number token beginning at ``at`` (after an optional minus) starts a value."""
    if at and data[at - 1] == _MINUS:
        at -= 1
    return at == 0 or data[at - 1] in _BEFORE_A_VALUE


def _has_non_finite_float(value: Any) -> bool:
    """True if a float orjson writes itself (not in what it handed to pydantic) is not finite."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, Enum):  # written as its value
            pending.append(item.value)
    return False


def _spells_non_finite(plain: list[Any]) -> bool:
    """True if pydantic's plain data may hold a NaN or an infinity (a string "NaN" counts too:
    that only costs the reference's time)."""
    if not plain:
        return False
    spelled = to_json(plain, inf_nan_mode="constants")  # plain data: they are spelled out
    return b"NaN" in spelled or b"Infinity" in spelled


def sha256_hex(value: Any) -> str:
    """SHA-256 (hex) of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()

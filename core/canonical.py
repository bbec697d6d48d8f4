"""Canonical JSON: the one byte form that hashes in the decision log and approvals are taken of.

Sorted keys, no insignificant white space, UTF-8, datetimes as ISO 8601 (UTC as ``Z``), enums as
their values, floats as Python's shortest round-trip ``repr``. Non-finite floats are refused,
because they have no JSON form and two encoders would disagree on them.

The definition is ``reference_canonical_bytes``: pydantic turns models, datetimes and enums into
plain data, the standard library's ``json`` writes it. What callers get is written by ``orjson``
(pydantic still writing what orjson does not know), the same bytes several times faster. Where
the two differ, this module mends orjson's output or hands the value to the reference:

- floats below 1e-4 or in exponent form (Python writes ``1e-05``, ``1e-07`` and ``1e+16``;
  orjson ``0.00001``, ``1e-7`` and, by version, ``1e16`` or ``1e+16``): both write the shortest
  digits that read back as the same float, so such a number token (never text in a string) is
  read back and written again as ``repr`` writes it;
- integers beyond 64 bits, lone surrogates, non-string keys (orjson refuses them): the reference;
- non-finite floats (orjson writes them, like None, as ``null``): only output holding a
  ``null`` is checked, by one walk over the plain data orjson wrote (what pydantic made of the
  models included); one found sends the value to the reference, which raises.

So the canonical bytes never depend on which path wrote them, nor on orjson's version. This
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
from pydantic import BaseModel
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
_EXPONENT_HINT = re.compile(rb"e(?<=\de)[-+\d]")  # 1e-7, 1e16, 1e+16; or hex like 9e7 in text
_exponent_hint = _EXPONENT_HINT.search
_TINY_HINT = re.compile(rb"0\.0000")  # 0.00001 ..< 0.0001, which Python writes as 1e-05 ..
_tiny_hint = _TINY_HINT.search
_null_hint = re.compile(rb"null").search  # how orjson writes None, NaN and the infinities
_number_at = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?").match
# A number token's mantissa before its "e", with the separator before it (or the document's
# start): at most 17 digits, a point and a minus, so it starts within reach of the "e".
_mantissa_before = re.compile(rb"(?:^|[:,\[])(-?\d+(?:\.\d+)?)\Z").search
_MANTISSA_REACH = 24
_BEFORE_A_VALUE = frozenset(b":,[")
_PLAIN_LEAVES = frozenset((str, int, bool, type(None)))
_MINUS = ord("-")
_ESCAPED_BACKSLASH, _ESCAPED_QUOTE, _BLANKS = b"\\\\", b'\\"', b"  "


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
        if type(value) is not dict and isinstance(value, BaseModel):  # what orjson would do,
            data = orjson.dumps(plain(value), option=_ORJSON_OPTIONS)  # minus a call back
        else:
            data = orjson.dumps(value, default=plain, option=_ORJSON_OPTIONS)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, a non-str key, ...
        return reference_canonical_bytes(value)
    # orjson writes NaN and infinities as null, where the reference raises.
    if _null_hint(data) and _has_non_finite_float((value, made_by_pydantic)):
        return reference_canonical_bytes(value)  # which raises: a hash of NaN must not exist
    exponent, tiny = _exponent_hint(data), _tiny_hint(data)  # (a regex finds faster than `in`)
    if exponent is None and tiny is None:
        return data
    mended = _in_python_float_forms(data, exponent, tiny)
    return reference_canonical_bytes(value) if mended is None else mended


def _in_python_float_forms(data: bytes, exponent: Any, tiny: Any) -> bytes | None:
    """``data`` with each float token orjson may write unlike ``repr`` (exponent form, or below
    1e-4) written as ``repr`` writes it; None if the tokens found do not make sense.

    ``exponent`` and ``tiny`` are the first hints found (or None). orjson writes the shortest
    digits that read back as the same float, so ``float(token)`` is the float it was given and
    ``repr`` of it the reference's spelling. Text in a string that looks like a number is left
    alone: a token counts only after an even number of (unescaped) quotes.
    """
    spans: dict[int, int] = {}  # start -> end of each number token to write again
    if exponent is not None:
        for hint in _EXPONENT_HINT.finditer(data, exponent.start()):
            at = hint.start()
            mantissa = _mantissa_before(data, max(0, at - _MANTISSA_REACH), at)
            if mantissa is not None:
                start = mantissa.start(1)
                end = _number_at(data, start).end()  # type: ignore[union-attr]
                if end > at + 1:  # the exponent's digits are part of the token
                    spans[start] = end
    if tiny is not None:
        for hint in _TINY_HINT.finditer(data, tiny.start()):
            start = at = hint.start()
            if at and data[at - 1] == _MINUS:
                start -= 1
            if start == 0 or data[start - 1] in _BEFORE_A_VALUE:
                spans[start] = _number_at(data, start).end()  # type: ignore[union-attr]
    if not spans:
        return data
    quoted = _without_escapes(data)
    pieces, done, counted, quotes = [], 0, 0, 0
    for start in sorted(spans):
        quotes += quoted.count(b'"', counted, start)
        counted = start
        if quotes % 2:  # inside a string: text that looks like a number
            continue
        if start < done:  # overlapping tokens: not what orjson writes
            return None
        end = spans[start]
        pieces.append(data[done:start])
        pieces.append(b"%r" % float(data[start:end]))
        done = end
    pieces.append(data[done:])
    return b"".join(pieces)


def _without_escapes(data: bytes) -> bytes:
    """``data`` with escaped backslashes and quotes blanked (same length): every ``"`` left
    opens or closes a string. Pairs of backslashes go first, left to right, as a parser reads
    them, so ``\\\\"`` ends a string and ``\\\\\\"`` does not."""
    if b"\\" not in data:
        return data
    return data.replace(_ESCAPED_BACKSLASH, _BLANKS).replace(_ESCAPED_QUOTE, _BLANKS)


def _has_non_finite_float(value: Any) -> bool:
    """True if ``value`` holds a float that is not finite, where orjson would write it.

    Models are leaves here (what pydantic made of them is walked apart, as plain data); plain
    types are settled by their exact type, subclasses and enums by the slower checks.
    """
    pending: list[Any] = [(value,)]
    while pending:
        for child in pending.pop():
            kind = type(child)
            if kind is float:
                if child - child:  # nan for NaN and the infinities, 0.0 for any other float
                    return True
            elif kind in _PLAIN_LEAVES:
                continue
            elif kind is dict:
                pending.append(child.values())
            elif kind is list or kind is tuple:
                pending.append(child)
            elif isinstance(child, float):
                if not math.isfinite(child):
                    return True
            elif isinstance(child, dict):
                pending.append(child.values())
            elif isinstance(child, (list, tuple)):
                pending.append(child)
            elif isinstance(child, Enum):  # written as its value
                pending.append((child.value,))
    return False


def sha256_hex(value: Any) -> str:
    """SHA-256 (hex) of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()

"""canonical_bytes mends orjson's float spellings in place and still refuses non-finite floats.

Floats below 1e-4 or in exponent form are written by orjson unlike ``repr`` (``0.00001``,
``1e-7``, ``1e16``); canonical_bytes rewrites those number tokens, and only tokens: text in a
string that looks like a number (``":1e5"``), after escaped quotes and backslashes too, stays
as it is. NaN and the infinities, which orjson writes as ``null``, still raise wherever they
sit. Every property compares with ``reference_canonical_bytes``, the definition.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from core.canonical import canonical_bytes, reference_canonical_bytes

NAN, INF = float("nan"), float("inf")


class Reading(BaseModel):
    """A model with floats at every depth (and, unlike Quorum's, room for NaN)."""

    value: float
    by_asset: dict[str, float] = {}
    series: list[float] = []
    anything: list[Any] = []
    note: str | None = None


def _from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


finite_floats = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.builds(lambda digits, exponent: float(f"{digits}e{exponent}"),
                st.decimals(1, 10, places=6, allow_nan=False).map(str), st.integers(-323, 307))
    | st.integers(0, 2**64 - 1).map(_from_bits).filter(math.isfinite)
    | st.sampled_from([1e-4, 9.99e-5, 1e-5, 1e-6, 1e-7, -1.45e-11, 5e-324, 1e15, 1e16, -1e16,
                       1e22, 1.7976931348623157e308, -0.0, 0.0, 2.5e-5, 123456789012345.6])
    | st.floats(-1e-3, 1e-3)
)
tricky_text = st.sampled_from([
    ":1e5", ",1e-7]", "[0.00001", ":-1e16,", "a:1e5,", '":1e5', '\\":1e-7', "\\", '\\"', '"',
    '\\\\":0.00001', "x\\", 'q"', "null", "NaN", "Infinity", "1e-05", "0.00001", "\n:1e7",
    "\u2028:1e-7", "é:1e-9",
])
texts = st.text(max_size=12) | tricky_text
keys = st.text(max_size=6) | tricky_text
leaves = st.none() | st.booleans() | st.integers() | finite_floats | texts
models = st.builds(
    Reading,
    value=finite_floats,
    by_asset=st.dictionaries(keys, finite_floats, max_size=3),
    series=st.lists(finite_floats, max_size=3),
    anything=st.lists(leaves, max_size=3),
    note=st.none() | texts,
)
values = st.recursive(
    leaves | models,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
many = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@many
@given(value=values)
def test_canonical_bytes_equal_the_reference_for_floats_strings_and_models(value):
    assert canonical_bytes(value) == reference_canonical_bytes(value)


@many
@given(number=finite_floats, text=texts)
def test_each_float_is_written_as_repr_and_text_beside_it_is_untouched(number, text):
    data = canonical_bytes({"n": number, "t": text, "l": [text, number, -number]})
    assert data == reference_canonical_bytes({"n": number, "t": text, "l": [text, number, -number]})
    assert b'"n":%s,' % repr(number).encode() in data


def test_floats_around_every_power_of_ten_are_written_as_repr():
    for exponent in range(-325, 309):
        power = float(f"1e{exponent}")
        near = [power, math.nextafter(power, 0.0), math.nextafter(power, INF), 3.7 * power]
        numbers = [x for x in near if math.isfinite(x)]
        expected = ("[" + ",".join(map(repr, numbers)) + "]").encode()
        assert canonical_bytes(numbers) == expected, exponent


@pytest.mark.parametrize("value", [
    {"a": "x\\", "b": 1e-7},  # an escaped backslash, then the string's closing quote
    {"a": 'q"', "b": 1e-7},  # an escaped quote inside the string
    {"a": '\\":1e-7', "b": [1e16, ":1e5"]},
    {"a": "\\\\", "b": 0.00001, "c": '",1e-7,"'},
    [":1e5", 1e-7, "[0.00001", -0.00001],
    1e-7,
    -2.5e-5,
], ids=["escaped backslash", "escaped quote", "quote and backslash", "two backslashes",
        "strings beside numbers", "a lone float", "a lone tiny float"])
def test_number_like_text_next_to_numbers_is_left_alone(value):
    assert canonical_bytes(value) == reference_canonical_bytes(value)


def _plant(value: Any, where: int, bad: float) -> Any:
    """``value`` with ``bad`` put in the ``where``-th container met (depth first), or beside."""
    seen = [0]

    def go(item: Any) -> Any:
        if isinstance(item, dict):
            seen[0] += 1
            out = {k: go(v) for k, v in item.items()}
            return {**out, "planted": bad} if seen[0] == where + 1 else out
        if isinstance(item, list):
            seen[0] += 1
            out = [go(v) for v in item]
            return [*out, bad] if seen[0] == where + 1 else out
        if isinstance(item, Reading) and seen[0] == where:
            seen[0] += 1
            return item.model_copy(update={"by_asset": {**item.by_asset, "planted": bad}})
        return item

    planted = go(value)
    return planted if seen[0] > where else [planted, None, bad]


@many
@given(value=values, where=st.integers(0, 6), bad=st.sampled_from([NAN, INF, -INF]))
def test_a_non_finite_float_anywhere_fares_as_in_the_reference(value, where, bad):
    planted = _plant(value, where, bad)
    try:
        expected = reference_canonical_bytes(planted)
    except ValueError:
        with pytest.raises(ValueError, match="Out of range float"):
            canonical_bytes(planted)
    else:  # pydantic writes a non-finite float in an Any field as None: so does the reference
        assert canonical_bytes(planted) == expected


@pytest.mark.parametrize("value", [
    Reading(value=NAN),
    Reading(value=1.0, by_asset={"ETH": INF}),
    Reading(value=1.0, series=[1.0, -INF]),
    {"note": None, "reading": Reading(value=1.0, series=[NAN], note=None)},
    {"note": None, "deep": [[{"x": NAN}]]},
    [None, INF],
    NAN,
], ids=["model field", "dict in a model", "list in a model", "model beside null",
        "deep in plain data", "list beside null", "top level"])
def test_non_finite_floats_beside_nulls_are_refused(value):
    with pytest.raises(ValueError, match="Out of range float"):
        reference_canonical_bytes(value)
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_bytes(value)

"""The fast canonical encoder writes exactly the reference's bytes, and logs stay verifiable.

The reference (`reference_canonical_bytes`, the standard library's json) is what every log
written before the orjson encoder holds; both write and verify now use `canonical_bytes`.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from core.canonical import (
    canonical_bytes,
    reference_canonical_bytes,
    sha256_hex,
    to_jsonable,
)
from core.models import GENESIS_HASH, Side, Stage, Tier
from state.db import make_engine
from state.decision_log import DecisionLog, entry_hash, verify
from tests.state.support import START, FakeClock, make_fill, make_order

any_float = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = (
    st.none() | st.booleans() | st.integers() | any_float
    | st.text()
    | st.sampled_from(["NaN", "Infinity", "1e-05", "a:1e5,", "0.00001", "null"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=16,
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
domain_leaves = (
    json_scalars
    | st.datetimes(timezones=st.none() | st.just(UTC) | offsets)
    | st.dates()
    | st.timedeltas()
    | st.sampled_from([*Stage, *Tier, *Side])
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.uuids()
    | st.integers(1, 10_000).map(make_order)
    | st.floats(0.001, 1e9).map(lambda price: make_fill(make_order(), price=price))
)
domain_values = st.recursive(
    domain_leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text() | st.sampled_from([*Stage]) | st.integers(), inner, max_size=3)
    ),
    max_leaves=10,
)
fast = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(value=json_values)
def test_canonical_bytes_are_the_reference_bytes_for_any_json_value(value):
    assert canonical_bytes(value) == reference_canonical_bytes(value)


@fast
@given(value=domain_values)
def test_models_datetimes_enums_and_decimals_encode_as_the_reference_does(value):
    assert canonical_bytes(value) == reference_canonical_bytes(value)


@fast
@given(value=domain_values)
def test_canonical_bytes_round_trip_and_are_stable(value):
    """What verify relies on: parsing the bytes and encoding again gives the same bytes."""
    data = canonical_bytes(value)
    assert json.loads(data) == to_jsonable(value)
    assert canonical_bytes(json.loads(data)) == data
    assert canonical_bytes(value) == data


@pytest.mark.parametrize("number", [
    1e-4, 9.99e-5, 2.5e-5, 1e-5, 1.23e-7, 5e-324, 1e15, 1e16, 1.2345e16, 1e22,
    1.7976931348623157e308, -0.0, -1e-5, 0.1 + 0.2, 123456789012345.6,
])
def test_floats_are_written_as_pythons_repr_where_orjson_differs(number):
    assert canonical_bytes({"x": number}) == b'{"x":%s}' % repr(number).encode()
    assert canonical_bytes([number]) == b"[%s]" % repr(number).encode()


def test_integers_beyond_64_bits_are_exact():
    assert canonical_bytes({"big": 2**70, "small": -(2**64)}) == (
        b'{"big":1180591620717411303424,"small":-18446744073709551616}'
    )


@pytest.mark.parametrize("value", [
    {"a": float("nan")},
    {"a": None, "b": [float("inf")]},
    {"nested": {"x": float("-inf"), "y": None}},
])
def test_non_finite_floats_are_refused_even_beside_nulls(value):
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_bytes(value)


class Loose(BaseModel):
    """A model that, unlike Quorum's, lets non-finite floats in."""

    x: float
    y: dict[str, float] = {}


class Level(Enum):
    UNKNOWN = float("nan")


@dataclass
class Point:
    x: float


Pair = namedtuple("Pair", "a b")
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value", [
    {"m": Loose(x=NAN)},
    Loose(x=1.0, y={"z": INF}),
    {"level": Level.UNKNOWN, "note": None},
    {"pair": Pair(1.0, NAN), "note": None},
    {"point": Point(INF)},
    [None, (1.0, [2.0, {"deep": -INF}])],
], ids=["in a model", "in a model's dict", "an enum's value", "in a namedtuple",
        "in a dataclass", "deep in lists"])
def test_non_finite_floats_anywhere_fare_as_in_the_reference(value):
    try:
        expected = reference_canonical_bytes(value)
    except ValueError:
        with pytest.raises(ValueError, match="Out of range float"):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected


def test_strings_that_look_like_numbers_or_nan_stay_strings():
    value = {"a": "NaN", "b": ":1e5,", "c": "0.00001", "d": None}
    assert canonical_bytes(value) == b'{"a":"NaN","b":":1e5,","c":"0.00001","d":null}'


def test_datetimes_encode_in_one_iso_form_whatever_their_zone():
    plus_five = datetime(2024, 3, 1, 17, 0, tzinfo=timezone(timedelta(hours=5)))
    assert canonical_bytes({"t": datetime(2024, 3, 1, 12, 0, tzinfo=UTC)}) == (
        b'{"t":"2024-03-01T12:00:00Z"}'
    )
    assert canonical_bytes({"t": plus_five}) == b'{"t":"2024-03-01T17:00:00+05:00"}'
    assert canonical_bytes({"d": date(2024, 3, 1), "u": uuid.UUID(int=1)}) == (
        b'{"d":"2024-03-01","u":"00000000-0000-0000-0000-000000000001"}'
    )


def test_models_enums_and_decimals_encode_as_plain_values():
    order = make_order()
    data = canonical_bytes({"order": order, "stage": Stage.ORDER_FILLED, "fee": Decimal("1.10")})
    assert json.loads(data) == {"order": json.loads(order.model_dump_json()),
                                "stage": "OrderFilled", "fee": "1.10"}
    assert sha256_hex(order) == sha256_hex(json.loads(canonical_bytes(order)))


# -- the log -----------------------------------------------------------------------------------


def test_a_log_written_by_the_reference_encoder_still_verifies(tmp_path: Path):
    """Logs written before the fast encoder hold the reference's bytes: they must verify."""
    path = tmp_path / "old.db"
    make_engine(f"sqlite:///{path}").dispose()
    payloads = [{"fee": 1e-05, "big": 2**70, "size": 1e16, "note": "größer €"},
                {"n": 1, "none": None}, {"nested": {"b": [0.1, 2.5e-7], "a": "x"}}]
    prev, rows = GENESIS_HASH, []
    for index, payload in enumerate(payloads):
        logged_at = START + timedelta(seconds=index)
        digest = entry_hash(index, f"d-{index}", "ProposalCreated", logged_at, payload, prev)
        rows.append((index, f"d-{index}", "ProposalCreated",
                     logged_at.replace(tzinfo=None).isoformat(" "),
                     reference_canonical_bytes(payload).decode(), prev, digest))
        prev = digest
    with sqlite3.connect(path) as con:
        con.executemany("INSERT INTO decision_log VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    engine = make_engine(f"sqlite:///{path}")
    result = verify(engine, expected_head_hash=prev)
    assert result.ok, result.problem
    assert result.count == 3
    assert [e.payload for e in DecisionLog(engine).entries()] == payloads
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.dictionaries(st.text(), domain_values, max_size=4))
def test_any_payload_appended_verifies_and_reads_back(tmp_path_factory, payload):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('any') / 'q.db'}")
    log = DecisionLog(engine, clock=FakeClock())
    appended = log.append("d-1", "ProposalCreated", payload)
    [stored] = log.entries()
    assert stored.payload == to_jsonable(payload)
    assert appended.hash == stored.hash == entry_hash(0, "d-1", "ProposalCreated", START,
                                                      payload, GENESIS_HASH)
    assert verify(engine).ok
    engine.dispose()


@pytest.mark.parametrize(("clock_time", "stored"), [
    (datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-01 12:00:00"),
    (datetime(2024, 3, 1, 12, 0, 0, 60, tzinfo=UTC), "2024-03-01 12:00:00.000060"),
    (datetime(2024, 3, 1, 17, 0, 0, 5, tzinfo=timezone(timedelta(hours=5))),
     "2024-03-01 12:00:00.000005"),
])
def test_logged_at_is_stored_as_sqlite3_stores_the_utc_time(engine, db_path, clock_time, stored):
    log = DecisionLog(engine, clock=FakeClock(clock_time))
    log.append("d-1", "ProposalCreated", {"n": 1})
    log.flush()
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT logged_at FROM decision_log").fetchone()[0] == stored
    assert log.entries()[0].logged_at == clock_time.astimezone(UTC)
    assert verify(engine).ok


@pytest.mark.parametrize(("now_ns", "stored"), [
    (1_709_294_400_000_000_000, "2024-03-01 12:00:00"),
    (1_709_294_400_000_060_999, "2024-03-01 12:00:00.000060"),
])
def test_the_default_clock_stores_what_sqlite3_would(engine, db_path, monkeypatch, now_ns, stored):
    """The default clock's fast path cuts both texts itself; they must be the slow path's."""
    monkeypatch.setattr(time, "time_ns", lambda: now_ns)
    log = DecisionLog(engine)
    log.append("d-1", "ProposalCreated", {"n": 1})
    [entry] = log.entries()
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT logged_at FROM decision_log").fetchone()[0] == stored
    assert entry.logged_at == datetime.fromtimestamp(now_ns // 1000 / 1e6, UTC)
    assert verify(engine).ok

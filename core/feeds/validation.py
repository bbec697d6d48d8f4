"""Checks that turn one raw OHLCV table into clean arrays, or refuse it with a BadDataError.

Every problem is reported at the first bad row, naming the file, the row and the problem, so a
person can open the file and fix it. Nothing here repairs data: no filling, sorting or dropping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.errors import BadDataError

TIME_COLUMNS = ("date", "datetime", "timestamp", "time", "open_time")
PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")

_MAX_NS = np.iinfo(np.int64).max
_FLOAT_EXACT = 2.0**53
_EPOCH_UNITS = ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3))  # below magnitude → ns per unit

Check = tuple[np.ndarray, Callable[[int], str]]
"""A boolean mask over the rows and how to describe the problem at row i."""


@dataclass(frozen=True)
class RowNaming:
    """How a person finds table row ``i`` in the file: a CSV line, or a 0-based record."""

    first: int = 0
    records: bool = False

    def label(self, i: int) -> str:
        return f"record {i}" if self.records else f"row {self.first + i}"

    def error(self, path: str, i: int, problem: str) -> BadDataError:
        if self.records:
            return BadDataError(path, f"{problem} (0-based record index)", row=i)
        return BadDataError(path, problem, row=self.first + i)


@dataclass(frozen=True, eq=False)
class Candles:
    """One file's validated candles: strictly increasing int64 ns UTC times, float64 values."""

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def format_time(ns: int) -> str:
    """A UTC timestamp the way notes and errors show it: 2018-01-10T04:55Z."""
    moment = datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=UTC)
    if int(ns) % 60_000_000_000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%MZ")
    return pd.Timestamp(int(ns), tz="UTC").isoformat().replace("+00:00", "Z")


def validated_candles(table: pd.DataFrame, *, path: str, rows: RowNaming) -> Candles:
    """The table's candles, or a BadDataError at the first bad row."""
    table = table.rename(columns=lambda name: str(name).strip().lower())
    time_column = _required_columns(table, path)
    if len(table) == 0:
        raise BadDataError(path, "no data rows (the file has no candles)")
    used = table[[time_column, *VALUE_COLUMNS]]
    checks: list[Check] = [(used.isna().all(axis=1).to_numpy(), lambda i: "the row is empty")]
    timestamps, time_checks = _parse_times(table[time_column], time_column)
    checks += time_checks
    values: dict[str, np.ndarray] = {}
    for name in VALUE_COLUMNS:
        values[name], number_checks = _parse_numbers(table[name], name)
        checks += number_checks
    checks += _candle_checks(values)
    time_known = ~np.logical_or.reduce([mask for mask, _ in time_checks])
    checks += _order_checks(timestamps, time_known, rows)
    _raise_first(checks, path=path, rows=rows)
    return Candles(timestamps=timestamps, **values)


def _required_columns(table: pd.DataFrame, path: str) -> str:
    columns = list(table.columns)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise BadDataError(path, f"columns appear more than once: {', '.join(repeated)}")
    time_column = next((c for c in TIME_COLUMNS if c in columns), None)
    missing = [c for c in VALUE_COLUMNS if c not in columns]
    if time_column is None:
        missing.insert(0, "a timestamp (" + "/".join(TIME_COLUMNS) + ")")
    if missing:
        found = ", ".join(columns) if columns else "none"
        raise BadDataError(path, f"missing columns: {', '.join(missing)}; found: {found}")
    return time_column


def _raise_first(checks: list[Check], *, path: str, rows: RowNaming) -> None:
    firsts = [int(np.argmax(mask)) for mask, _ in checks if mask.any()]
    if not firsts:
        return
    first = min(firsts)
    describe = next(describe for mask, describe in checks if mask[first])
    raise rows.error(path, first, describe(first))


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _missing(column: pd.Series) -> np.ndarray:
    missing = column.isna().to_numpy()
    if not (_is_numeric(column) or pd.api.types.is_datetime64_any_dtype(column)):
        missing = missing | column.astype("str").str.strip().eq("").to_numpy()
    return missing


def _parse_numbers(column: pd.Series, name: str) -> tuple[np.ndarray, list[Check]]:
    missing = _missing(column)
    numbers = column if _is_numeric(column) else pd.to_numeric(column, errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    unparseable = np.isnan(values) & ~missing
    checks: list[Check] = [
        (missing, lambda i: f"{name} is missing (empty or NaN)"),
        (unparseable, lambda i: f"{name} is {column.iloc[i]!r}, not a number"),
        (np.isinf(values), lambda i: f"{name} is {values[i]}, not a finite number"),
    ]
    return values, checks


def _parse_times(column: pd.Series, name: str) -> tuple[np.ndarray, list[Check]]:
    missing = _missing(column)
    if pd.api.types.is_datetime64_any_dtype(column):
        ns, invalid = _datetimes_ns(column)
    elif _is_numeric(column):
        ns, invalid = _epoch_ns(column)
    elif _first_value_is_number(column, missing):
        ns, invalid = _epoch_ns(pd.to_numeric(column, errors="coerce"))
    else:
        parsed = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
        ns, invalid = _datetimes_ns(parsed)
    invalid = invalid & ~missing
    checks: list[Check] = [
        (missing, lambda i: f"{name} is missing (empty or NaN)"),
        (invalid, lambda i: f"{name} is {column.iloc[i]!r}, not a timestamp"),
    ]
    return np.where(missing | invalid, 0, ns), checks


def _datetimes_ns(moments: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Datetimes (naive ones taken as UTC) as int64 ns, and where they are NaT or out of range."""
    utc = moments.dt.tz_convert("UTC") if moments.dt.tz else moments.dt.tz_localize("UTC")
    low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    valid = utc.between(low, high).to_numpy()
    ns = np.zeros(len(moments), dtype=np.int64)
    ns[valid] = utc[valid].dt.tz_localize(None).dt.as_unit("ns").to_numpy().view(np.int64)
    return ns, ~valid


def _first_value_is_number(column: pd.Series, missing: np.ndarray) -> bool:
    present = np.flatnonzero(~missing)
    if present.size == 0:
        return False
    text = str(column.iloc[present[0]]).strip()
    try:
        float(text)
    except ValueError:
        return False
    return True


def _epoch_ns(numbers: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds, ms, us or ns (told apart by magnitude, per value) as int64 ns."""
    exact = pd.api.types.is_integer_dtype(numbers) and not numbers.hasnans
    floats = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(floats)
    magnitude = np.abs(np.where(finite, floats, 0.0))
    scale = np.ones(len(numbers), dtype=np.int64)
    for limit, ns_per_unit in reversed(_EPOCH_UNITS):
        scale[magnitude < limit] = ns_per_unit
    invalid = ~finite | (magnitude * scale >= _MAX_NS)
    whole = ~invalid & (exact | ((floats == np.trunc(floats)) & (magnitude < _FLOAT_EXACT)))
    if exact:
        units = numbers.to_numpy(dtype=np.int64)
    else:
        units = np.where(whole, floats, 0.0).astype(np.int64)
    ns = np.where(whole, units * scale, 0)
    fractional = ~invalid & ~whole
    ns[fractional] = np.rint(floats[fractional] * scale[fractional]).astype(np.int64)
    return ns, invalid


def _candle_checks(values: dict[str, np.ndarray]) -> list[Check]:
    def shown(name: str, i: int) -> str:
        return f"{values[name][i]:.10g}"

    def positive(name: str) -> Check:
        return values[name] <= 0, lambda i: f"{name} is {shown(name, i)}, prices must be positive"

    def inside(bound: str, name: str) -> Check:
        if bound == "high":
            broken, side = values["high"] < values[name], "below"
        else:
            broken, side = values["low"] > values[name], "above"
        return broken, lambda i: f"{bound} {shown(bound, i)} is {side} {name} {shown(name, i)}"

    return [
        *(positive(name) for name in PRICE_COLUMNS),
        (
            values["volume"] < 0,
            lambda i: f"volume is {shown('volume', i)}, volume cannot be negative",
        ),
        (
            values["high"] < values["low"],
            lambda i: f"high {shown('high', i)} is below low {shown('low', i)}",
        ),
        inside("high", "open"),
        inside("high", "close"),
        inside("low", "open"),
        inside("low", "close"),
    ]


def _order_checks(ns: np.ndarray, valid: np.ndarray, rows: RowNaming) -> list[Check]:
    step = np.zeros(len(ns), dtype=np.int64)
    step[1:] = np.diff(ns)
    comparable = np.zeros(len(ns), dtype=bool)
    comparable[1:] = valid[1:] & valid[:-1]
    duplicate = comparable & (step == 0)
    backwards = comparable & (step < 0)
    return [
        (
            duplicate,
            lambda i: f"duplicate timestamp {format_time(ns[i])} (same as {rows.label(i - 1)})",
        ),
        (
            backwards,
            lambda i: (
                f"timestamp {format_time(ns[i])} is before {rows.label(i - 1)}'s "
                f"{format_time(ns[i - 1])}; rows must be sorted by time"
            ),
        ),
    ]

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
    timestamps, checks = _parse_times(table[time_column], time_column)
    time_known = ~np.logical_or.reduce([mask for mask, _ in checks])
    values: dict[str, np.ndarray] = {}
    for name in VALUE_COLUMNS:
        values[name], number_checks = _parse_numbers(table[name], name)
        checks += number_checks
    blank = np.logical_and.reduce([table[c].isna().to_numpy() for c in (time_column, *VALUE_COLUMNS)])
    checks.insert(0, (blank, lambda i: "the row is empty"))
    checks += _candle_checks(values)
    checks += _order_checks(timestamps, time_known, rows)
    _raise_first(checks, path=path, rows=rows)
    return Candles(timestamps=timestamps, **values)


def _required_columns(table: pd.DataFrame, path: str) -> str:
    columns = list(table.columns)
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


def _missing(column: pd.Series) -> np.ndarray:
    missing = column.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(column):
        missing = missing | column.astype("str").str.strip().eq("").to_numpy()
    return missing


def _parse_numbers(column: pd.Series, name: str) -> tuple[np.ndarray, list[Check]]:
    missing = _missing(column)
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        unparseable = np.zeros(len(column), dtype=bool)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        unparseable = np.isnan(values) & ~missing
    infinite = np.isinf(values)
    checks: list[Check] = [
        (missing, lambda i: f"{name} is missing (empty or NaN)"),
        (unparseable, lambda i: f"{name} is {column.iloc[i]!r}, not a number"),
        (infinite, lambda i: f"{name} is {values[i]}, not a finite number"),
    ]
    return values, checks


def _parse_times(column: pd.Series, name: str) -> tuple[np.ndarray, list[Check]]:
    missing = _missing(column)
    if pd.api.types.is_datetime64_any_dtype(column):
        utc = column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
        ns = utc.dt.tz_localize(None).dt.as_unit("ns").to_numpy().view(np.int64)
        invalid = np.zeros(len(column), dtype=bool)
    elif pd.api.types.is_numeric_dtype(column) or _first_value_is_number(column, missing):
        numbers = column if pd.api.types.is_numeric_dtype(column) else pd.to_numeric(column, errors="coerce")
        exact = pd.api.types.is_integer_dtype(numbers) and not numbers.hasnans
        ns, invalid = _epoch_ns(
            numbers.to_numpy(dtype=np.int64) if exact else numbers.to_numpy(np.float64, na_value=np.nan)
        )
    else:
        parsed = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
        invalid = parsed.isna().to_numpy()
        low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        invalid = invalid | ~parsed.between(low, high).to_numpy()
        ns = np.zeros(len(column), dtype=np.int64)
        ok = ~invalid
        ns[ok] = parsed[ok].dt.tz_localize(None).dt.as_unit("ns").to_numpy().view(np.int64)
    invalid = invalid & ~missing
    ns = np.where(missing | invalid, 0, ns)
    checks: list[Check] = [
        (missing, lambda i: f"{name} is missing (empty or NaN)"),
        (invalid, lambda i: f"{name} is {column.iloc[i]!r}, not a timestamp"),
    ]
    return ns, checks


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


def _epoch_ns(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds, ms, us or ns (told apart by magnitude, per value) as int64 ns."""
    is_int = np.issubdtype(numbers.dtype, np.integer)
    floats = numbers.astype(np.float64)
    finite = np.isfinite(floats)
    magnitude = np.abs(np.where(finite, floats, 0.0))
    scale = np.ones(len(numbers), dtype=np.int64)
    for limit, ns_per_unit in reversed(_EPOCH_UNITS):
        scale[magnitude < limit] = ns_per_unit
    invalid = ~finite | (magnitude * scale >= _MAX_NS)
    whole = ~invalid & (is_int | ((floats == np.trunc(floats)) & (magnitude < _FLOAT_EXACT)))
    ns = np.zeros(len(numbers), dtype=np.int64)
    ints = numbers[whole] if is_int else floats[whole]
    ns[whole] = ints.astype(np.int64) * scale[whole]
    fractional = ~invalid & ~whole
    ns[fractional] = np.rint(floats[fractional] * scale[fractional]).astype(np.int64)
    return ns, invalid


def _candle_checks(values: dict[str, np.ndarray]) -> list[Check]:
    def show(name: str, i: int) -> str:
        return f"{values[name][i]:.10g}"

    checks: list[Check] = []
    for name in PRICE_COLUMNS:
        checks.append((values[name] <= 0, lambda i, n=name: f"{n} is {show(n, i)}, prices must be positive"))
    checks.append(
        (values["volume"] < 0, lambda i: f"volume is {show('volume', i)}, volume cannot be negative")
    )
    high, low = values["high"], values["low"]
    checks.append((high < low, lambda i: f"high {show('high', i)} is below low {show('low', i)}"))
    for name in ("open", "close"):
        checks.append(
            (high < values[name], lambda i, n=name: f"high {show('high', i)} is below {n} {show(n, i)}")
        )
        checks.append(
            (low > values[name], lambda i, n=name: f"low {show('low', i)} is above {n} {show(n, i)}")
        )
    return checks


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
